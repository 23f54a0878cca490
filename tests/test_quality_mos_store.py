"""The ratings database: one transaction per rating, flags, export and idempotent import."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.quality import mos_store
from vcam_sharpen.quality.mos_store import AlreadyRated, Store, check_export, count, default_db, read_export

STIM = {"id": "a" * 16, "content": "set5:baby", "method": "student", "kind": "still"}
TRAP = {"id": "b" * 16, "content": "set5:baby", "method": "bilinear", "kind": "trap", "expected": 2}


def test_the_default_database_is_under_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db() == tmp_path / "vcam-sharpen" / "mos.sqlite"


def test_ratings_land_one_transaction_each_in_a_wal_database(tmp_path):
    with Store(tmp_path / "sub" / "r.sqlite") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rater = store.add_rater()
        store.add_rating("s1", rater, STIM, 4)
        # another connection (another process, a crash right now) sees the committed rating
        assert count(tmp_path / "sub" / "r.sqlite") == 1
        with pytest.raises(AlreadyRated):
            store.add_rating("s1", rater, STIM, 5)
        assert store.rated("s1", rater) == {STIM["id"]} and store.has_rater(rater) and not store.has_rater("x")


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
def test_a_killed_writer_loses_nothing_committed(tmp_path):
    db = tmp_path / "r.sqlite"
    code = ("import os, sys\nfrom vcam_sharpen.quality.mos_store import Store\n"
            "s = Store(sys.argv[1])\nr = s.add_rater()\n"
            f"s.add_rating('s1', r, {STIM!r}, 3)\nos.kill(os.getpid(), 9)\n")
    p = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, timeout=60)
    assert p.returncode == -9
    with Store(db) as store:
        assert [r["score"] for r in store.ratings()] == [3]
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_missing_the_trap_flags_the_rater_and_keeps_everything(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        good, bad = store.add_rater(), store.add_rater()
        store.add_rating("s1", good, TRAP, 2)
        store.add_rating("s1", bad, TRAP, 4)
        store.add_rating("s1", bad, STIM, 5)
        rows = store.ratings("s1")
    assert len(rows) == 3 and {r["rater"]: r["flagged"] for r in rows} == {good: False, bad: True}


def test_export_then_import_elsewhere_is_idempotent(tmp_path):
    with Store(tmp_path / "a.sqlite") as a:
        r1, r2 = a.add_rater(), a.add_rater()
        a.add_rating("s1", r1, STIM, 4)
        a.add_rating("s1", r2, TRAP, 5)  # flagged
        doc = a.export()
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc))
    with Store(tmp_path / "b.sqlite") as b:
        b.add_rating("s1", b.add_rater(), STIM, 1)
        assert b.import_ratings(read_export(path)) == (2, 0)
        assert b.import_ratings(read_export(path)) == (0, 2)  # again: nothing added
        rows = b.ratings("s1")
        assert len(rows) == 3 and len({r["id"] for r in rows}) == 3
        assert {r["rater"]: r["flagged"] for r in rows if r["rater"] in (r1, r2)} == {r1: False, r2: True}


BAD = [
    ({"format": "x"}, "not a vcam-sharpen ratings export"),
    ({"format": mos_store.EXPORT_FORMAT, "version": 99, "ratings": []}, "version 99"),
    ({"format": mos_store.EXPORT_FORMAT, "version": 1, "ratings": {}}, "must be lists"),
    ({"format": mos_store.EXPORT_FORMAT, "version": 1, "ratings": [{"id": "zz"}]}, "rating 0: 'id'"),
]


@pytest.mark.parametrize("doc, words", BAD)
def test_bad_exports_are_one_line_and_change_nothing(tmp_path, doc, words):
    with pytest.raises(UserError, match=words):
        check_export(doc)
    good = {"id": "c" * 32, "study": "s1", "rater": "d" * 32, "stimulus": "a" * 16, "content": "x", "method": "m",
            "kind": "still", "expected": None, "score": 3, "created": 1.0}
    with Store(tmp_path / "r.sqlite") as store:
        bad_row = {**good, "id": "e" * 32, "score": 9}
        with pytest.raises(UserError, match="rating 1: 'score'"):
            store.import_ratings({"format": mos_store.EXPORT_FORMAT, "version": 1, "ratings": [good, bad_row]})
        assert store.ratings() == []  # all or nothing


def test_unreadable_files(tmp_path):
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(UserError, match="not JSON"):
        read_export(tmp_path / "x.json")
    with pytest.raises(UserError, match="cannot read"):
        read_export(tmp_path / "missing.json")
    with pytest.raises(UserError, match="no ratings database"):
        mos_store.open_existing(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(UserError, match="not a ratings database"):
        Store(tmp_path / "junk.sqlite")
    assert (tmp_path / "junk.sqlite").read_bytes() == b"not a database at all" * 100  # left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.sqlite", "x.json"]  # no -wal/-shm beside it


def _foreign(path, app_id=0, tables=("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",)):
    db = sqlite3.connect(path)
    for sql in tables:
        db.execute(sql)
    if app_id:
        db.execute(f"PRAGMA application_id={app_id}")
    db.execute("INSERT INTO notes (body) VALUES ('precious')") if "notes" in " ".join(tables) else None
    db.commit()
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize("variant", ["plain", "app-id", "one-of-our-tables", "wal", "empty"])
def test_another_programs_sqlite_file_is_never_modified(tmp_path, variant):
    """--db naming another application's SQLite file: refused with one line, the file byte for byte as it was."""
    path = tmp_path / "other.sqlite"
    if variant == "plain":
        before = _foreign(path)
    elif variant == "app-id":
        before = _foreign(path, app_id=0x4D504446)
    elif variant == "one-of-our-tables":
        before = _foreign(path, tables=("CREATE TABLE raters (id TEXT)", "CREATE TABLE notes (id INTEGER, body TEXT)"))
    elif variant == "wal":
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.commit()
        db.close()
        before = path.read_bytes()
    else:
        path.write_bytes(b"")
        before = b""
    for attempt in (lambda: Store(path), lambda: mos_store.open_existing(path), lambda: count(path)):
        with pytest.raises(UserError) as e:
            attempt()
        assert "\n" not in str(e.value) and "--db" in str(e.value)
        assert "another program" in str(e.value) or "empty file" in str(e.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite"]


def test_new_databases_carry_our_application_id_and_old_ones_are_adopted(tmp_path):
    with Store(tmp_path / "new.sqlite") as store:
        assert store.db.execute("PRAGMA application_id").fetchone()[0] == mos_store.APPLICATION_ID
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == mos_store.USER_VERSION
    old = tmp_path / "old.sqlite"  # what an earlier version wrote: our tables, no application id
    db = sqlite3.connect(old)
    db.executescript(mos_store.SCHEMA)
    db.close()
    with Store(old) as store:
        assert store.db.execute("PRAGMA application_id").fetchone()[0] == mos_store.APPLICATION_ID
    assert count(old) == 0


@pytest.mark.parametrize("created", [float("nan"), float("inf"), -float("inf"), -5.0, 1e300, "yesterday", True])
@pytest.mark.parametrize("where", ["rating", "rater"])
def test_a_rating_with_an_impossible_time_is_refused_not_counted_as_already_here(tmp_path, created, where):
    """NaN would be stored as NULL, violate NOT NULL, be ignored, and be reported as 'already here'."""
    with Store(tmp_path / "a.sqlite") as store:
        rater = store.add_rater()
        store.add_rating("s1", rater, STIM, 4)
        doc = store.export()
    key = "ratings" if where == "rating" else "raters"
    doc[key][0]["created"] = created
    with Store(tmp_path / "b.sqlite") as store:
        with pytest.raises(UserError, match="'created' must be a time"):
            store.import_ratings(doc)
        assert store.ratings() == []


def test_an_export_nested_too_deep_or_too_large_is_one_line(tmp_path, monkeypatch):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserError, match="nests too deep"):
        read_export(deep)
    monkeypatch.setattr(mos_store, "MAX_EXPORT_BYTES", 1000)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"format": "x", "pad": "y" * 2000}))
    with pytest.raises(UserError, match="over 0 MiB"):
        read_export(big)


def test_an_export_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(UserError, match="FIFO"):
        read_export(tmp_path / "pipe.json")
    os.mkfifo(tmp_path / "pipe.sqlite")
    with pytest.raises(UserError, match="FIFO"):
        Store(tmp_path / "pipe.sqlite")


def test_serving_checks_the_database_first(tmp_path):
    mos_store.check_db(tmp_path / "absent.sqlite")  # made with the first rating
    assert not (tmp_path / "absent.sqlite").exists()
    before = _foreign(tmp_path / "other.sqlite")
    with pytest.raises(UserError, match="another program"):
        mos_store.check_db(tmp_path / "other.sqlite")
    assert (tmp_path / "other.sqlite").read_bytes() == before
