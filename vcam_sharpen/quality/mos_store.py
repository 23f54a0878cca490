"""Where MOS ratings live: one SQLite file, crash-safe, mergeable across machines.

Every rating is one row, written in its own transaction (WAL journal, so a crash or a
``kill -9`` loses at most the rating being written and never corrupts the others). Rows
carry everything the report needs (study, content, method, kind, the trap's expected
score), so a database is complete on its own and ratings from several machines merge by
:func:`import_ratings`: each rating has a random 128-bit id, and importing a file twice
adds nothing. Raters are anonymous random ids; a rater who answers a trap stimulus
wrongly is *flagged* (kept, and left out of the report unless asked).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import sqlite3
import time
from contextlib import closing, contextmanager
from pathlib import Path

from ..core.errors import UserError
from ..core.files import existing_file
from ..core.paths import data_home

# PRAGMA application_id of every ratings database ("VSMO"): a file without it is never written to,
# so --db naming another program's SQLite file cannot add our tables to it.
APPLICATION_ID = 0x56534D4F
USER_VERSION = 1
EXPORT_FORMAT = "vcam-sharpen-mos-ratings"
EXPORT_VERSION = 1
MAX_EXPORT_BYTES = 256 << 20  # an export of a million ratings is ~300 MB of JSON; beyond: not an export
SCORES = {5: "Excellent", 4: "Good", 3: "Fair", 2: "Poor", 1: "Bad"}  # ITU-T P.910 ACR
KINDS = ("still", "clip", "trap")
ID_RE = re.compile(r"[0-9a-f]{32}")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+:-]{0,127}")  # study, content, method, stimulus names

SCHEMA = """
CREATE TABLE IF NOT EXISTS raters (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    flagged INTEGER NOT NULL DEFAULT 0,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS ratings (
    id TEXT PRIMARY KEY,
    study TEXT NOT NULL,
    rater TEXT NOT NULL,
    stimulus TEXT NOT NULL,
    content TEXT NOT NULL,
    method TEXT NOT NULL,
    kind TEXT NOT NULL,
    expected INTEGER,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    created REAL NOT NULL,
    UNIQUE (study, rater, stimulus)
);
"""


def default_db() -> Path:
    """``$XDG_DATA_HOME/vcam-sharpen/mos.sqlite``."""
    return data_home() / "mos.sqlite"


def new_id() -> str:
    """A random 128-bit id as 32 hex digits (raters and ratings)."""
    return secrets.token_hex(16)


class AlreadyRated(UserError):
    """This rater has already rated this stimulus (one rating each)."""


class Store:
    """The ratings database. Opening it creates the file (and its folder) when missing.

    Args:
        path: the SQLite file; default :func:`default_db`.
        create: create a missing file; False makes a missing file a UserError (``report``, ``export``).
    """

    def __init__(self, path: Path | None = None, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_db()
        exists = existing_file(self.path, "--db")  # a FIFO or a device is refused, never opened
        if not exists:
            if not create:
                raise UserError(f"no ratings database at {self.path}; collect ratings with: vcam-sharpen mos serve")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UserError(f"cannot create the folder of {self.path} ({e.strerror}); pass another --db") \
                    from None
        else:
            check_identity(self.path)  # read-only: a file that is not ours is left byte for byte as it was
        try:
            self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            if not exists:
                self.db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                self.db.execute(f"PRAGMA user_version={USER_VERSION}")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            if exists and self.db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                self.db.execute(f"PRAGMA application_id={APPLICATION_ID}")  # a database of an older version
                self.db.execute(f"PRAGMA user_version={USER_VERSION}")
        except sqlite3.DatabaseError as e:
            raise UserError(f"{self.path} is not a ratings database ({e}); pass another --db") from None
        except sqlite3.Error as e:  # a read-only file system, a locked file
            raise UserError(f"cannot open the ratings database {self.path} ({e}); pass another --db") from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self):
        """One transaction: everything inside lands together, or nothing does."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- raters

    def add_rater(self) -> str:
        rater = new_id()
        with self._tx():
            self.db.execute("INSERT INTO raters (id, created) VALUES (?, ?)", (rater, time.time()))
        return rater

    def has_rater(self, rater: str) -> bool:
        return bool(ID_RE.fullmatch(str(rater))) and self.db.execute(
            "SELECT 1 FROM raters WHERE id = ?", (rater,)).fetchone() is not None

    def rated(self, study: str, rater: str) -> set[str]:
        """The stimuli ``rater`` has rated in ``study``."""
        rows = self.db.execute("SELECT stimulus FROM ratings WHERE study = ? AND rater = ?", (study, rater))
        return {r[0] for r in rows}

    # -- ratings

    def add_rating(self, study: str, rater: str, stimulus: dict, score: int) -> str:
        """Store one rating (one transaction); flags the rater when it misses a trap. Returns the rating id.

        Raises:
            AlreadyRated: this rater rated this stimulus before.
        """
        rid = new_id()
        expected = stimulus.get("expected")
        try:
            with self._tx():  # BEGIN ... COMMIT: the rating and the flag land together or not at all
                self.db.execute(
                    "INSERT INTO ratings (id, study, rater, stimulus, content, method, kind, expected, score, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rid, study, rater, stimulus["id"], stimulus["content"], stimulus["method"], stimulus["kind"],
                     expected, int(score), time.time()))
                if expected is not None and int(score) != int(expected):
                    self._flag(rater, f"rated the trap {stimulus['id']} {score} instead of {expected}")
        except sqlite3.IntegrityError:
            raise AlreadyRated(f"stimulus {stimulus['id']} is already rated by this rater") from None
        return rid

    def _flag(self, rater: str, reason: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO raters (id, created) VALUES (?, ?)", (rater, time.time()))
        self.db.execute("UPDATE raters SET flagged = 1, reason = COALESCE(reason, ?) WHERE id = ?", (reason, rater))

    def ratings(self, study: str | None = None) -> list[dict]:
        """Every rating (of ``study``), oldest first, with ``flagged`` (its rater missed a trap)."""
        sql = ("SELECT r.id, r.study, r.rater, r.stimulus, r.content, r.method, r.kind, r.expected, r.score, "
               "r.created, COALESCE(q.flagged, 0) FROM ratings r LEFT JOIN raters q ON q.id = r.rater")
        rows = self.db.execute(sql + (" WHERE r.study = ?" if study else "") + " ORDER BY r.created, r.id",
                               (study,) if study else ())
        keys = ("id", "study", "rater", "stimulus", "content", "method", "kind", "expected", "score", "created",
                "flagged")
        return [dict(zip(keys, r)) | {"flagged": bool(r[-1])} for r in rows]

    def studies(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT study FROM ratings ORDER BY study")]

    # -- merging

    def export(self) -> dict:
        """Every rater and rating as one JSON-able document (what ``mos import`` reads)."""
        raters = [dict(zip(("id", "created", "flagged", "reason"), r)) for r in
                  self.db.execute("SELECT id, created, flagged, reason FROM raters ORDER BY created, id")]
        ratings = [{k: v for k, v in r.items() if k != "flagged"} for r in self.ratings()]
        return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "raters": raters, "ratings": ratings}

    def import_ratings(self, doc: dict, source: str = "the file") -> tuple[int, int]:
        """Merge an :meth:`export` document; returns ``(ratings added, ratings already here)``.

        All or nothing: every row is checked first, then all are inserted in one transaction.
        Raises:
            UserError: not an export, or a row that is malformed (named by its index).
        """
        raters, ratings = check_export(doc, source)
        try:
            return self._insert(raters, ratings)
        except sqlite3.Error as e:  # a read-only file system, a full disk: nothing was added
            raise UserError(f"cannot write to {self.path} ({e}); nothing was imported: pass another --db") from None

    def _insert(self, raters: list[dict], ratings: list[dict]) -> tuple[int, int]:
        added = 0
        with self._tx():
            for q in raters:
                self.db.execute("INSERT OR IGNORE INTO raters (id, created) VALUES (?, ?)", (q["id"], q["created"]))
                if q.get("flagged"):
                    self._flag(q["id"], q.get("reason") or "flagged where it was collected")
            for r in ratings:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO ratings (id, study, rater, stimulus, content, method, kind, expected, "
                    "score, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    tuple(r[k] for k in ("id", "study", "rater", "stimulus", "content", "method", "kind", "expected",
                                         "score", "created")))
                added += cur.rowcount
                self.db.execute("INSERT OR IGNORE INTO raters (id, created) VALUES (?, ?)", (r["rater"], r["created"]))
                if r["expected"] is not None and r["score"] != r["expected"]:
                    self._flag(r["rater"], f"rated the trap {r['stimulus']} {r['score']} instead of {r['expected']}")
        return added, len(ratings) - added


def _field(row: dict, key: str, where: str):
    if key not in row:
        raise UserError(f"{where}: missing {key!r}")
    return row[key]


def check_export(doc, source: str = "the file") -> tuple[list[dict], list[dict]]:
    """The raters and ratings of an export document, every field checked; a one-line UserError otherwise."""
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise UserError(f"{source} is not a vcam-sharpen ratings export (made by: vcam-sharpen mos export)")
    if doc.get("version") != EXPORT_VERSION:
        raise UserError(f"{source}: export version {doc.get('version')!r} is not supported (this one reads "
                        f"{EXPORT_VERSION})")
    raters, ratings = doc.get("raters", []), doc.get("ratings")
    if not isinstance(raters, list) or not isinstance(ratings, list):
        raise UserError(f"{source}: 'raters' and 'ratings' must be lists")
    out_q = []
    for i, q in enumerate(raters):
        where = f"{source}: rater {i}"
        if not isinstance(q, dict) or not ID_RE.fullmatch(str(_field(q, "id", where))):
            raise UserError(f"{where}: not a rater with a 32-hex-digit id")
        created = _field(q, "created", where)
        _check_time(created, where)
        out_q.append({"id": q["id"], "created": float(created), "flagged": bool(q.get("flagged")),
                      "reason": str(q["reason"])[:300] if q.get("reason") else None})
    out_r = []
    for i, r in enumerate(ratings):
        where = f"{source}: rating {i}"
        if not isinstance(r, dict):
            raise UserError(f"{where}: not an object")
        for key in ("id", "rater"):
            if not ID_RE.fullmatch(str(_field(r, key, where))):
                raise UserError(f"{where}: {key!r} must be 32 hex digits")
        for key in ("study", "stimulus", "content", "method"):
            if not isinstance(_field(r, key, where), str) or not NAME_RE.fullmatch(r[key]):
                raise UserError(f"{where}: {key!r} must be a short name")
        if _field(r, "kind", where) not in KINDS:
            raise UserError(f"{where}: 'kind' must be one of {', '.join(KINDS)}")
        score, expected, created = _field(r, "score", where), r.get("expected"), _field(r, "created", where)
        if isinstance(score, bool) or score not in SCORES:
            raise UserError(f"{where}: 'score' must be an integer from 1 to 5")
        if expected is not None and (isinstance(expected, bool) or expected not in SCORES):
            raise UserError(f"{where}: 'expected' must be null or an integer from 1 to 5")
        _check_time(created, where)
        out_r.append({**{k: r[k] for k in ("id", "study", "rater", "stimulus", "content", "method", "kind")},
                      "expected": expected, "score": int(score), "created": float(created)})
    return out_q, out_r


def _check_time(created, where: str) -> None:
    """``created`` is a Unix time: a finite number from 0 (NaN would be stored as NULL and the row dropped)."""
    if isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created) \
            or not 0 <= created < 1e11:
        raise UserError(f"{where}: 'created' must be a time in seconds since 1970 (a finite number), "
                        f"not {str(created)[:40]}")


def read_export(path: Path) -> dict:
    """An export file as a document; a one-line UserError when it is missing, not a regular file, too
    large, or not JSON (including JSON nested too deep for Python to parse)."""
    if not existing_file(path, "export file"):
        raise UserError(f"cannot read {path} (No such file or directory); pass a file made by vcam-sharpen mos "
                        "export")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_EXPORT_BYTES + 1)
        if len(raw) > MAX_EXPORT_BYTES:
            raise UserError(f"{path} is over {MAX_EXPORT_BYTES >> 20} MiB, more than any ratings export; "
                            "pass a file made by vcam-sharpen mos export")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path} ({getattr(e, 'strerror', None) or e})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise UserError(f"{path} nests too deep to be a ratings export; pass a file made by vcam-sharpen "
                        "mos export") from None
    except ValueError as e:
        raise UserError(f"{path} is not JSON ({e})") from None


def check_identity(path: Path) -> None:
    """A one-line UserError unless ``path`` is a vcam-sharpen ratings database: our ``application_id``
    (read from the file's header, bytes 68-71), or (written by an older version) no application id
    and exactly our two tables. The file is only read, never locked or journalled: whatever it is,
    it and its folder stay exactly as they were."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as e:
        raise UserError(f"cannot read {path} ({e.strerror}); pass another --db") from None
    if not header:
        raise UserError(f"{path} is an empty file, not a ratings database; pass another --db (or a new name)")
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        raise UserError(f"{path} is not a ratings database (not an SQLite file); pass another --db")
    app = int.from_bytes(header[68:72], "big")
    if app == APPLICATION_ID:
        return
    tables: set[str] = set()
    if app == 0:  # immutable: no lock, no -wal/-shm files beside it
        try:
            uri = f"{Path(path).absolute().as_uri()}?mode=ro&immutable=1"
            with closing(sqlite3.connect(uri, uri=True)) as db:
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as e:
            raise UserError(f"{path} is not a ratings database ({e}); pass another --db") from None
        if tables == {"raters", "ratings"}:
            return
    what = f"application_id {app:#x}" if app else "tables " + (", ".join(sorted(tables)[:5]) or "none")
    raise UserError(f"{path} is another program's SQLite database ({what}), not a vcam-sharpen ratings "
                    f"database; it was left as it was: pass another --db")


def check_db(path: Path | None) -> None:
    """Before serving: ``--db`` (default :func:`default_db`) is absent (made with the first rating), or a
    ratings database; a one-line UserError otherwise, so a wrong file fails at start, not per request."""
    path = Path(path) if path is not None else default_db()
    if existing_file(path, "--db"):
        check_identity(path)


def open_existing(path: Path | None) -> Store:
    """The database for reading (report, export): a UserError when there is none."""
    return Store(path, create=False)


def count(path: Path) -> int:
    """Ratings in the database at ``path`` (0 when there is none)."""
    if not existing_file(path, "--db"):
        return 0
    check_identity(path)
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0])
