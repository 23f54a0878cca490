"""The MOS study page: every rater sees every stimulus once, in a random blind order of their own.

A rater is an anonymous random id in a session cookie (``vcam_mos_rater``: HttpOnly,
SameSite=Strict), made on the first ``api/session``. Each rater's order is a shuffle seeded by
their id (a reload resumes where they were); stimuli are served under their random names only.
Each rating is one transaction in the SQLite store (:mod:`vcam_sharpen.quality.mos_store`).
Routes, under ``base``: ``""`` the page, ``api/session`` (POST; the rater's queue, and each stimulus's size
and crop size so the page can pick what fits at 1:1), ``api/rate`` (POST ``{"stimulus": ID, "score": 1..5}``),
``stimulus/ID.png`` and ``stimulus/ID-crop.png`` (the 1:1 crop ``mos prepare`` chose, for windows the whole
picture does not fit). Served alone by ``vcam-sharpen mos serve`` (:func:`create_mos`) or under ``/mos/`` by the
panel.
"""

from __future__ import annotations

import random
import re
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..core.errors import UserError
from ..quality.mos_store import ID_RE, SCORES, AlreadyRated, Store
from ..quality.mos_study import default_dir, load_manifest
from .pages import BadRequest, answers, error, json_object, page, static
from .security import Guard, Secure

COOKIE = "vcam_mos_rater"
STIMULUS_RE = re.compile(r"([0-9a-f]{16})(-crop)?")


class Study:
    """The study folder and the store, opened on first use (serving the page creates nothing)."""

    def __init__(self, folder: Path | None, db: Path | None) -> None:
        self.folder = Path(folder) if folder is not None else default_dir()
        self.db = db
        self._manifest: tuple[float, dict] | None = None
        self._store: Store | None = None
        self._lock = threading.Lock()

    def manifest(self) -> dict:
        """The study (reread when its manifest changes, e.g. after ``mos prepare --force``)."""
        path = self.folder / "manifest.json"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = -1.0
        if self._manifest is None or self._manifest[0] != mtime:
            self._manifest = (mtime, load_manifest(self.folder))
        return self._manifest[1]

    def stimuli(self) -> dict[str, dict]:
        return {s["id"]: s for s in self.manifest()["stimuli"]}

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.db)
            return self._store

    def order(self, rater: str) -> list[str]:
        ids = sorted(self.stimuli())
        random.Random(rater).shuffle(ids)
        return ids


def _rater(request: Request, study: Study) -> str | None:
    rater = request.cookies.get(COOKIE, "")
    return rater if ID_RE.fullmatch(rater) and study.store().has_rater(rater) else None


def mos_routes(guard: Guard, folder: Path | None = None, db: Path | None = None, base: str = "/") -> list[Route]:
    study = Study(folder, db)

    async def index(request: Request) -> Response:
        try:
            n = len(study.manifest()["stimuli"])
        except UserError as e:
            return error(404, str(e))
        return page("mos.html", csrf=guard.token, base=base, count=str(n))

    async def session(request: Request) -> Response:
        try:
            manifest = study.manifest()
            await json_object(request)
            rater = _rater(request, study)
            fresh = rater is None
            if fresh:
                rater = study.store().add_rater()
            done = study.store().rated(manifest["study"], rater)
        except BadRequest as e:
            return error(e.status, str(e))
        except UserError as e:
            return error(404, str(e))
        queue = [s for s in study.order(rater) if s not in done]
        stimuli = study.stimuli()
        sizes = {sid: [stimuli[sid]["width"], stimuli[sid]["height"],
                       *([stimuli[sid]["crop"]["width"], stimuli[sid]["crop"]["height"]] if "crop" in stimuli[sid]
                         else [])] for sid in queue}
        resp = JSONResponse({"queue": queue, "sizes": sizes, "done": len(done), "total": len(manifest["stimuli"]),
                             "scale": {str(k): v for k, v in SCORES.items()}})
        if fresh:
            resp.set_cookie(COOKIE, rater, httponly=True, samesite="strict", path=base)
        return resp

    @answers((AlreadyRated, 409), (UserError, 404))
    async def rate(request: Request) -> Response:
        body = await json_object(request)
        manifest = study.manifest()
        rater = _rater(request, study)
        if rater is None:
            raise BadRequest("no rater session (cookies off, or an old page): reload the page")
        sid, score = body.get("stimulus"), body.get("score")
        if set(body) != {"stimulus", "score"}:
            raise BadRequest("send exactly {\"stimulus\": ID, \"score\": 1..5}")
        if not isinstance(sid, str) or sid not in study.stimuli():
            raise BadRequest("no such stimulus in this study", 404)
        if isinstance(score, bool) or not isinstance(score, int) or score not in SCORES:
            raise BadRequest("score must be an integer from 1 (Bad) to 5 (Excellent)")
        study.store().add_rating(manifest["study"], rater, study.stimuli()[sid], score)
        done = len(study.store().rated(manifest["study"], rater))
        return JSONResponse({"ok": True, "done": done, "total": len(manifest["stimuli"])})

    async def stimulus(request: Request) -> Response:
        name = STIMULUS_RE.fullmatch(request.path_params["sid"])
        try:
            stim = study.stimuli().get(name.group(1)) if name else None
        except UserError as e:
            return error(404, str(e))
        if stim is None or (name.group(2) and "crop" not in stim):
            return error(404, "no such stimulus")
        return FileResponse(study.folder / (stim["crop"]["file"] if name.group(2) else stim["file"]),
                            media_type="image/png")

    return [Route("/", index), Route("/static/{name}", static), Route("/api/session", session, methods=["POST"]),
            Route("/api/rate", rate, methods=["POST"]), Route("/stimulus/{sid}.png", stimulus)]


def create_mos(guard: Guard, folder: Path | None = None, db: Path | None = None) -> Secure:
    """The study page alone (``vcam-sharpen mos serve``), behind its guard."""
    return Secure(Starlette(routes=mos_routes(guard, folder, db)), guard)
