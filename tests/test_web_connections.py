"""Slowloris against a real uvicorn on 127.0.0.1: half-open connections neither lock out a real client
nor live for ever. Every loop here is bounded and every socket is closed by the test itself."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from vcam_sharpen.web import connections
from vcam_sharpen.web.connections import GuardedH11
from vcam_sharpen.web.server import WebServer, bind

TIMEOUT_S = 1.0  # the request deadline in these tests (5 s in the product)


async def hello(request):
    await request.body()  # a POST waits for its whole body here
    return PlainTextResponse("ok")


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(GuardedH11, "request_timeout_s", TIMEOUT_S)
    monkeypatch.setattr(GuardedH11, "max_connections", 60)
    srv = WebServer(Starlette(routes=[Route("/", hello, methods=["GET", "POST"])]), bind("127.0.0.1", 0)).start()
    port = srv.sock.getsockname()[1]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until uvicorn answers
        try:
            if get(port, timeout=1.0) == 200:
                break
        except OSError:
            time.sleep(0.05)
    yield port
    srv.stop()


def get(port: int, timeout: float = 3.0) -> int:
    """A real client: one GET, the status code."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(1024)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0


def closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset: closed as well
        return True


class Slowloris:
    """``n`` sockets that each send half a request head, then one more byte every ``every`` seconds."""

    def __init__(self, port: int, n: int, every: float = 0.2) -> None:
        self.socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
            self.socks.append(s)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, args=(every,), daemon=True)
        self.thread.start()

    def _trickle(self, every: float) -> None:
        for _ in range(200):  # bounded: 40 s at most, normally stopped long before
            if self.stop.wait(every):
                return
            for s in self.socks:
                try:
                    s.send(b"a")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for s in self.socks:
            s.close()


def test_a_real_client_is_served_while_100_half_open_connections_are_held(server):
    attack = Slowloris(server, 100)
    try:
        for _ in range(5):
            t0 = time.monotonic()
            assert get(server) == 200
            assert time.monotonic() - t0 < 2.0
    finally:
        attack.close()


def test_half_open_connections_are_closed_at_the_deadline_even_while_they_trickle(server):
    attack = Slowloris(server, 20, every=0.1)
    try:
        deadline = time.monotonic() + TIMEOUT_S + 5
        while time.monotonic() < deadline and not all(closed_by_server(s) for s in attack.socks):
            time.sleep(0.1)
        assert all(closed_by_server(s) for s in attack.socks)
        assert get(server) == 200
    finally:
        attack.close()


def test_the_connection_cap_closes_the_oldest_half_open_one_first(server):
    first = socket.create_connection(("127.0.0.1", server), timeout=2)
    first.sendall(b"GET / HTTP/1.1\r\n")
    time.sleep(0.05)
    attack = Slowloris(server, 60, every=10)  # the cap is 60: this fills it, evicting `first`
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < TIMEOUT_S * 0.8 and not closed_by_server(first):
            time.sleep(0.02)
        assert closed_by_server(first) and time.monotonic() - t0 < TIMEOUT_S  # evicted, not timed out
        assert get(server) == 200
    finally:
        attack.close()
        first.close()


def test_a_kept_alive_connection_that_goes_quiet_is_closed(server):
    with socket.create_connection(("127.0.0.1", server), timeout=3) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        for _ in range(20):  # head and body may come in separate segments
            data += s.recv(1024)
            if data.endswith(b"ok"):
                break
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok")
        s.sendall(b"GET / HT")  # half of the next request, then nothing
        t0 = time.monotonic()
        assert s.recv(1024) == b""  # closed by the server
        assert time.monotonic() - t0 < TIMEOUT_S + 2


def test_a_slow_body_is_cut_off_too(server):
    with socket.create_connection(("127.0.0.1", server), timeout=TIMEOUT_S + 3) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nabc")
        t0 = time.monotonic()
        assert s.recv(1024) == b""
        assert time.monotonic() - t0 < TIMEOUT_S + 2


def test_the_product_values():
    assert connections.REQUEST_TIMEOUT_S == 5.0 and connections.MAX_CONNECTIONS == 200
    assert GuardedH11.request_timeout_s == 5.0
