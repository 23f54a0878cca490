"""The control panel: a page, its assets, the live status, live changes, Save, and the preview streams.

The web layer knows nothing of the daemon: the daemon hands :func:`create_panel` the pipeline (for the
preview) and :class:`PanelHooks` (its status, how to apply changes, how to save them). Routes:

==========================  ======  =========================================================
``/``                       GET     the page (with the per-start CSRF token)
``/static/NAME``            GET     its script and style sheet
``/api/status``             GET     what ``vcam-sharpen status --json`` shows, plus the choices
                                    (``panel.models``: mode -> the models offered in it)
``/api/models?mode=M``      GET     the models offered in mode M, and the one a change to M picks
``/api/settings``           POST    ``{"strength": 0.6, "sharpening": true, "split": false, "temporal": "auto",
                                    "skip_static": true, "model": "student", "mode": "degrade|upscale|same"}``
                                    (any subset)
``/api/save``               POST    ``{}``: write the panel's settings to the config file
``/api/preview/SIDE.jpg``   GET     the latest JPEG, SIDE ``before``/``after``, ``?view=fit|crop`` (what
                                    the page polls: a page whose pictures are plain requests always
                                    finishes loading, frames or not)
``/api/preview/SIDE.mjpg``  GET     the same as an MJPEG stream
``/mos/...``                        the MOS study (:mod:`vcam_sharpen.web.mos_app`)
==========================  ======  =========================================================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from ..core.errors import UserError
from ..frames.live import LIVE, check_live
from .mos_app import mos_routes
from .pages import BadRequest, answers, error, json_object, page, static
from .preview import BOUNDARY, MAX_VIEWERS, SIDES, VIEWS, PreviewHub, mjpeg
from .security import Guard, Secure

log = logging.getLogger(__name__)

# mode name -> (degrade, upscale)
MODES = {"degrade": (2, False), "upscale": (1, True), "same": (1, False)}
# what the page and its messages call them
MODE_LABELS = {"degrade": "simulated 2x link", "upscale": "upscale 2x", "same": "same size"}
# live settings the page offers that a daemon may not have yet: their names in the user's words


def mode_name(degrade: int, upscale: bool) -> str:
    return "upscale" if upscale else "degrade" if degrade == 2 else "same"


class Busy(UserError):
    """A change that cannot be made now (a model change is still in progress): 409."""


@dataclass
class PanelHooks:
    """What the daemon gives the panel.

    Attributes:
        status: the daemon's state (what ``status --json`` shows).
        apply: validated changes (see :func:`check_changes`) -> the resulting settings; raises
            UserError for a refused combination, :class:`Busy` while a model change runs.
        current: the settings the panel edits, as applied now: model, degrade, upscale, strength, split,
            temporal.
        save_settings: writes such a dict to the config file; returns the file.
        models: per mode (a key of :data:`MODES`), the model names the panel offers in it (never a file path).
        defaults: per mode, the model a change to that mode picks when the running one is not offered there.
    """

    status: Callable[[], dict]
    apply: Callable[[dict], dict]
    current: Callable[[], dict]
    save_settings: Callable[[dict], Path]
    models: dict[str, list[str]]
    defaults: dict[str, str] = field(default_factory=dict)


def check_changes(body: dict, models: dict[str, list[str]], current: dict | None = None,
                  defaults: dict[str, str] | None = None) -> dict:
    """The validated changes of a ``/api/settings`` body; BadRequest (400) in the user's words otherwise.

    A model must be one offered in the mode it will run in (``current``: the settings in effect, for the
    mode and model a body leaves out). A mode change alone keeps the model where the new mode offers it,
    else picks the mode's default from ``defaults``.
    """
    allowed = (*LIVE, "model", "mode")
    unknown = [k for k in body if k not in allowed]
    if unknown:
        name = str(unknown[0])[:40]
        raise BadRequest(f"unknown setting {name!r}; use {', '.join(allowed)}")
    if not body:
        raise BadRequest("no setting given")
    out = {}
    for key in LIVE:
        if key in body:
            try:
                out[key] = check_live(key, body[key])
            except ValueError as e:
                raise BadRequest(str(e)) from None
    if "mode" in body:
        if not isinstance(body["mode"], str) or body["mode"] not in MODES:
            raise BadRequest(f"mode must be one of {', '.join(MODES)}")
        out["mode"] = body["mode"]
    cur = current or {}
    mode = out.get("mode") or mode_name(cur.get("degrade", 2), cur.get("upscale", False))
    offered = models.get(mode, [])
    if "model" in body:
        if not isinstance(body["model"], str) or body["model"] not in {m for ms in models.values() for m in ms}:
            raise BadRequest("that model is not one the panel offers: pick one from the list")
        if body["model"] not in offered:
            raise BadRequest(f"{body['model']} does not work in {MODE_LABELS[mode]} mode: pick one of the models "
                             "the list offers for it")
        out["model"] = body["model"]
    elif "mode" in out and cur.get("model") is not None and cur["model"] not in offered:
        default = (defaults or {}).get(mode)
        if default not in offered:
            default = offered[0] if offered else None
        if default is None:
            raise BadRequest(f"no model works in {MODE_LABELS[mode]} mode")
        out["model"] = default
    return out


def create_panel(pipeline, hooks: PanelHooks, guard: Guard, study_dir: Path | None = None,
                 db: Path | None = None, preview: PreviewHub | None = None) -> tuple[Secure, PreviewHub]:
    """The panel app behind its guard, and its (not yet started) preview hub."""
    hub = preview or PreviewHub(pipeline)

    async def index(request: Request) -> Response:
        return page("panel.html", csrf=guard.token)

    async def status(request: Request) -> Response:
        cur = hooks.current()
        cur = {**cur, "mode": mode_name(cur["degrade"], cur["upscale"])}
        return JSONResponse({**hooks.status(), "panel": {
            "preview": hub.stats(), "models": hooks.models, "defaults": hooks.defaults, "modes": list(MODES),
            "mode_labels": MODE_LABELS, "live": list(LIVE), "settings": cur}})

    async def models(request: Request) -> Response:
        mode = request.query_params.get("mode", "")
        if mode not in MODES:
            return error(404, f"no mode {mode[:20]!r}: use {', '.join(MODES)}")
        return JSONResponse({"mode": mode, "models": hooks.models.get(mode, []), "default": hooks.defaults.get(mode)})

    @answers((Busy, 409), (UserError, 400))
    async def settings(request: Request) -> Response:
        before, body = hooks.current(), await json_object(request)
        changes = check_changes(body, hooks.models, before, hooks.defaults)
        note = None
        if "model" in changes and "model" not in body:  # picked for the new mode
            note = (f"{MODE_LABELS[changes['mode']].capitalize()} mode uses {changes['model']}: "
                    f"{before.get('model')} does not work in it")
        return JSONResponse({"ok": True, "settings": hooks.apply(changes), "model": changes.get("model"), "note": note})

    async def save(request: Request) -> Response:
        try:
            body = await json_object(request)
        except BadRequest as e:
            return error(e.status, str(e))
        if body:
            return error(400, "save takes an empty object: it saves the settings in effect")
        try:
            path = hooks.save_settings(hooks.current())
        except UserError as e:
            return error(409, str(e))
        except OSError as e:
            return error(500, f"could not write the config file ({e.strerror}); nothing was changed")
        return JSONResponse({"ok": True, "path": str(path), "saved": hooks.current()})

    def _side_view(request: Request) -> tuple[str, str] | Response:
        side, view = request.path_params["side"], request.query_params.get("view", "fit")
        if side not in SIDES or view not in VIEWS:
            return error(404, f"no preview {side[:20]!r}/{view[:20]!r}: use before or after, view fit or crop")
        return side, view

    async def stream(request: Request) -> Response:
        sv = _side_view(request)
        if isinstance(sv, Response):
            return sv
        if hub.viewers >= MAX_VIEWERS:
            return error(503, "too many preview viewers; close a panel tab")
        return StreamingResponse(mjpeg(hub, *sv), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")

    async def snapshot(request: Request) -> Response:
        sv = _side_view(request)
        if isinstance(sv, Response):
            return sv
        hub.want(sv[1])
        _, data = hub.latest(*sv)
        if data is None:
            return error(503, "no preview yet; try again in a moment")
        return Response(data, media_type="image/jpeg")

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/status", status),
        Route("/api/models", models),
        Route("/api/settings", settings, methods=["POST"]),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/preview/{side}.mjpg", stream),
        Route("/api/preview/{side}.jpg", snapshot),
        Mount("/mos", routes=mos_routes(guard, study_dir, db, base="/mos/")),
    ]
    return Secure(Starlette(routes=routes), guard), hub
