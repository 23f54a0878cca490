"""What the apps share besides the guard: the pages and assets shipped in ``web/static``, JSON errors,
and reading a JSON request body."""

from __future__ import annotations

import functools
import json
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

# The only files /static serves (no path from a request ever reaches the file system).
ASSETS = {"panel.js": "text/javascript", "panel.css": "text/css", "mos.js": "text/javascript",
          "mos.css": "text/css"}


def asset(name: str) -> bytes:
    return files("vcam_sharpen.web").joinpath("static", name).read_bytes()


def page(name: str, **values: str) -> HTMLResponse:
    """An HTML page from ``static/``, with ``{{key}}`` placeholders replaced (values are tokens and paths the
    server made, never request data)."""
    text = asset(name).decode()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return HTMLResponse(text)


def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return error(404, f"no asset {name[:40]!r}")
    return Response(asset(name), media_type=ASSETS[name])


def error(status: int, message: str, **extra: str) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class BadRequest(Exception):
    """A request to answer with ``status`` and ``message`` (and ``extra`` fields for the page, e.g. which
    setting is unavailable)."""

    def __init__(self, message: str, status: int = 400, **extra: str) -> None:
        super().__init__(message)
        self.status, self.extra = status, extra


def answers(*statuses: tuple[type[Exception], int]):
    """Decorator for a JSON handler: a :class:`BadRequest` answers with its own status, each listed
    exception type with its status (the first that matches), as ``{"error": message}``."""
    def wrap(handler):
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except BadRequest as e:
                return error(e.status, str(e), **e.extra)
            except tuple(kind for kind, _ in statuses) as e:
                return error(next(status for kind, status in statuses if isinstance(e, kind)), str(e))
        return run
    return wrap


async def json_object(request: Request) -> dict:
    """The request's JSON body, which must be an object."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
