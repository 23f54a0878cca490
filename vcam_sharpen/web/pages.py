"""What the apps share besides the guard: the pages and assets shipped in ``web/static``, JSON errors,
and reading a JSON request body."""

from __future__ import annotations

import functools
import json
import math
import re
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

MAX_DEPTH = 8  # every body the apps take is a flat object; a little room for future ones
MAX_INT_DIGITS = 18
# strings (skipped whole, escapes included) and brackets: what _depth looks at
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')

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
    """A request to answer with ``status`` and ``message`` (and ``extra`` fields for the page)."""

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


def _depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest in JSON ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for token in _TOKENS.findall(text):
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadRequest(f"a number of {len(text)} digits; numbers here have at most {MAX_INT_DIGITS}")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"the number {text[:20]} is too large")
    return value


def _constant(text: str):
    raise BadRequest(f"{text} is not JSON; send finite numbers")


def parse_json(raw: bytes):
    """A JSON request body, bounded: at most MAX_DEPTH levels of nesting (Python's parser would
    recurse into a RecursionError), integers of at most MAX_INT_DIGITS digits, finite numbers only;
    a :class:`BadRequest` (400) naming the problem otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not JSON (not UTF-8 text)") from None
    if _depth(text) > MAX_DEPTH:
        raise BadRequest(f"the JSON nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not JSON") from None


async def json_object(request: Request) -> dict:
    """The request's JSON body (see :func:`parse_json`), which must be an object."""
    body = parse_json(await request.body())
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
