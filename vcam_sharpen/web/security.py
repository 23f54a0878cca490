"""The guard every web app of the package sits behind, written once.

A local web server that controls a camera is reachable by every website the user visits
(through the browser). So, for every request:

* the ``Host`` header must be the loopback name and port the server listens on (``127.0.0.1:PORT``,
  ``localhost:PORT``, ``[::1]:PORT``, or the address it was told to listen on): a DNS-rebinding page,
  whose requests carry its own host name, is refused;
* a request with an ``Origin`` other than the server's own, or marked ``Sec-Fetch-Site: cross-site``,
  is refused;
* only GET, HEAD and POST exist (no OPTIONS: no CORS preflight ever succeeds, and no
  ``Access-Control-*`` header is ever sent);
* a POST needs the per-start random token embedded in the page (``X-CSRF-Token``), a JSON body
  (``Content-Type: application/json``, which a cross-site form cannot send) of at most
  :data:`MAX_BODY` bytes;
* every response gets a strict Content-Security-Policy (scripts and styles from the server only),
  ``X-Frame-Options: DENY``, ``nosniff``, ``no-referrer`` and ``no-store``;
* an exception in a handler becomes a 500 with a short message; the server, and the daemon around
  it, go on.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import secrets

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
TOKEN_HEADER = b"x-csrf-token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
           (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"cache-control", b"no-store"), (b"cross-origin-resource-policy", b"same-origin")]


def host_literal(host: str) -> str:
    """How ``host`` (an IP address, or ``localhost``) appears in a Host header: IPv6 in brackets."""
    if host == "localhost":
        return host
    addr = ipaddress.ip_address(host)
    return f"[{addr}]" if addr.version == 6 else str(addr)


class Guard:
    """The per-start secrets and the names the server answers to.

    Args:
        host: the address the server listens on (loopback unless told otherwise).
        port: its port; set :attr:`port` once the socket is bound when it was 0.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, int(port)
        self.token = secrets.token_urlsafe(32)

    def hosts(self) -> set[str]:
        names = {*LOOPBACK_NAMES, host_literal(self.host)}
        return {f"{n}:{self.port}" for n in names}

    def origins(self) -> set[str]:
        return {f"http://{h}" for h in self.hosts()}

    def token_ok(self, value: bytes | None) -> bool:
        return value is not None and hmac.compare_digest(value, self.token.encode())


async def _refuse(send, status: int, message: str, extra: list | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *HEADERS, *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


class Secure:
    """ASGI middleware applying :class:`Guard` to ``app`` (see the module docstring)."""

    def __init__(self, app, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":  # no websockets here
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        problem = self.check(scope)
        if problem is not None:
            status, message, extra = problem
            return await _refuse(send, status, message, extra)
        started = False

        async def guarded_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not k.lower().startswith(b"access-control-")
                           and k.lower() not in {h for h, _ in HEADERS}]
                message = {**message, "headers": headers + HEADERS}
            await send(message)

        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, 413, f"request body over {MAX_BODY} bytes")
        except Exception:  # noqa: BLE001 - one bad request must never take the server (or the daemon) down
            log.exception("web request %s %s failed", scope.get("method"), scope.get("path"))
            if not started:
                await _refuse(send, 500, "internal error (see the daemon's log)")

    def check(self, scope) -> tuple[int, str, list] | None:
        """``(status, message, extra headers)`` for a request to refuse, else None."""
        headers: dict[bytes, bytes] = {}
        for k, v in scope.get("headers", []):
            k = k.lower()
            if k in headers and k in (b"host", b"origin", TOKEN_HEADER, b"content-length", b"content-type"):
                return 400, f"duplicate {k.decode()} header", []
            headers[k] = v
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if host not in self.guard.hosts():
            return 403, (f"refused: Host {host[:80]!r} is not this panel; open "
                         f"http://127.0.0.1:{self.guard.port}/"), []
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1").lower() not in self.guard.origins():
            return 403, "refused: a cross-origin request", []
        if headers.get(b"sec-fetch-site") == b"cross-site":
            return 403, "refused: a cross-site request", []
        method = scope.get("method", "")
        if method not in ("GET", "HEAD", "POST"):
            return 405, f"method {method[:16]} is not allowed", [(b"allow", b"GET, HEAD, POST")]
        if method != "POST":
            return None
        if not self.guard.token_ok(headers.get(TOKEN_HEADER)):
            return 403, "missing or wrong CSRF token: reload the page", []
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype != b"application/json":
            return 415, "send JSON (Content-Type: application/json)", []
        length = headers.get(b"content-length")
        if length is None or not length.isdigit():
            return 411, "a Content-Length header is required", []
        if int(length) > MAX_BODY:
            return 413, f"request body over {MAX_BODY} bytes", []
        return None
