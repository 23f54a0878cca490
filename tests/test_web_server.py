"""uvicorn on a socket bound first: busy ports, listen addresses, a real server that survives hostile clients."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.web.security import Guard, Secure
from vcam_sharpen.web.server import WebServer, bind, check_host, url


def test_listen_addresses():
    assert check_host("localhost") == "127.0.0.1" and check_host(" ::1 ") == "::1"
    for bad, words in (("0.0.0.0", "one interface"), ("::", "one interface"), ("example.com", "IP address")):
        with pytest.raises(UserError, match=words):
            check_host(bad)


def test_a_busy_port_is_one_line_naming_the_setting():
    first = bind("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(UserError, match=f"panel port {port} on 127.0.0.1 is in use.*--panel-port"):
            bind("127.0.0.1", port)
    finally:
        first.close()


def raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except OSError:
            pass
        return out


def test_a_real_server_answers_and_survives_hostile_clients():
    async def hello(request):
        return PlainTextResponse("hello")

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    assert url(sock) == f"http://127.0.0.1:{port}/"
    server = WebServer(Secure(Starlette(routes=[Route("/", hello)]), Guard("127.0.0.1", port)), sock).start()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                assert httpx.get(url(sock), timeout=5).text == "hello"
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        for junk in (b"\x00\xff garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: " + b"a" * 70000 + b"\r\n\r\n",
                     b"GET /" + b"%" * 9000 + b" HTTP/1.1\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                     b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" % port):
            answer = raw(port, junk)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:80]
        half = socket.create_connection(("127.0.0.1", port))  # a client that never finishes its request
        half.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1")
        assert httpx.get(url(sock), timeout=5).text == "hello"
        assert httpx.get(url(sock), headers={"Host": "evil.example"}, timeout=5).status_code == 403
        half.close()
    finally:
        t = time.monotonic()
        server.stop()
        assert time.monotonic() - t < 2.0 and not server.thread.is_alive()
