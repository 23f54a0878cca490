"""Serving an app with uvicorn: on a socket bound here (a busy port is a one-line error before anything
starts), in a background thread of the daemon or in the foreground (``mos serve``)."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import threading

import uvicorn

from ..core.errors import UserError
from .connections import GuardedH11
from .security import host_literal

log = logging.getLogger(__name__)

STOP_WAIT_S = 1.5


def check_host(host: str) -> str:
    """The address to listen on: an IP address or ``localhost`` (meaning 127.0.0.1); not a wildcard."""
    host = str(host).strip()
    if host == "localhost":
        return "127.0.0.1"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise UserError(f"listen address {host!r}: give an IP address, e.g. 127.0.0.1") from None
    if addr.is_unspecified:
        raise UserError(f"listen address {host}: name one interface's address (every interface would expose "
                        "the camera's controls to the network)")
    return str(addr)


def bind(host: str, port: int, what: str = "panel") -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port)."""
    host = check_host(host)
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"{what} port {port} on {host} is in use (another vcam-sharpen {what}, or another "
                            f"program); pick another with --{what}-port, or {what}_port in the config file") from None
        raise UserError(f"cannot listen on {host}:{port} for the {what} ({e.strerror})") from None
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host_literal(host)}:{port}/"


def _config(app) -> uvicorn.Config:
    # log_config=None: uvicorn must not reconfigure the daemon's logging; h11 and asyncio: no optional extras.
    # GuardedH11 bounds the time a request may take to arrive and the number of connections, closing the
    # oldest half-open one first; uvicorn's limit_concurrency would instead answer 503 to everyone once
    # enough half-open sockets are held, so it is off.
    return uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", http=GuardedH11, loop="asyncio",
                          ws="none", timeout_graceful_shutdown=1, timeout_keep_alive=5, limit_concurrency=None,
                          server_header=False, date_header=False, h11_max_incomplete_event_size=16 * 1024)


class WebServer:
    """``app`` served on ``sock`` by a uvicorn server in a daemon thread."""

    def __init__(self, app, sock: socket.socket) -> None:
        self.sock, self.url = sock, url(sock)
        self.server = uvicorn.Server(_config(app))
        self.thread = threading.Thread(target=self._run, name="web-server", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as e:  # noqa: BLE001 - the camera goes on without its panel
            log.error("the web server stopped: %s", e)

    def start(self) -> "WebServer":
        self.thread.start()
        return self

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
        try:
            self.sock.close()
        except OSError:
            pass


def serve_foreground(app, sock: socket.socket) -> None:
    """Serve until Ctrl-C / SIGTERM (uvicorn handles both in the main thread)."""
    try:
        uvicorn.Server(_config(app)).run(sockets=[sock])
    finally:
        sock.close()
