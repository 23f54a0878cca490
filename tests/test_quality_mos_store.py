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
    assert isinstance(sqlite3.sqlite_version, str)
