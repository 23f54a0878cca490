"""The guard in front of every web app: Host (DNS rebinding), Origin, methods, CSRF token, JSON, size, errors."""

from __future__ import annotations

import pytest
from conftest_web import BASE, PORT, client
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from vcam_sharpen.web.security import CSP, MAX_BODY, Guard, Secure, host_literal

calls = []


async def hello(request):
    return PlainTextResponse("hello")


async def change(request):
    calls.append(await request.body())
    return JSONResponse({"ok": True}, headers={"Access-Control-Allow-Origin": "*"})


async def boom(request):
    raise RuntimeError("broken handler")


@pytest.fixture
def guarded():
    calls.clear()
    guard = Guard("127.0.0.1", PORT)
    app = Starlette(routes=[Route("/", hello), Route("/change", change, methods=["POST"]),
                            Route("/boom", boom)])
    return client(Secure(app, guard)), guard


def test_loopback_hosts_pass_and_every_response_is_hardened(guarded):
    c, guard = guarded
    for host in (f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}"):
        r = c.get("/", headers={"Host": host})
        assert r.status_code == 200 and r.text == "hello", host
    assert r.headers["content-security-policy"] == CSP and "script-src 'self'" in CSP
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
    assert not [h for h in r.headers if h.lower().startswith("access-control")]


@pytest.mark.parametrize("host", ["attacker.example:8717", "attacker.example", "127.0.0.1", "127.0.0.1:80",
                                  "localhost:8718", "127.0.0.2:8717", "", "LOCALHOST.:8717"])
def test_dns_rebinding_a_foreign_host_header_is_refused(guarded, host):
    c, _ = guarded
    r = c.get("/", headers={"Host": host})
    assert r.status_code == 403 and "is not this panel" in r.json()["error"]


def test_cross_origin_and_cross_site_requests_are_refused(guarded):
    c, guard = guarded
    h = {"X-CSRF-Token": guard.token}
    r = c.post("/change", json={}, headers={**h, "Origin": "http://attacker.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"] and not calls
    r = c.get("/", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert c.post("/change", json={}, headers={**h, "Origin": BASE}).status_code == 200


def test_no_cors_preflight_and_only_get_head_post(guarded):
    c, _ = guarded
    r = c.options("/change", headers={"Access-Control-Request-Method": "POST"})
    assert r.status_code == 405 and not [k for k in r.headers if k.lower().startswith("access-control")]
    for method in ("PUT", "DELETE", "PATCH", "TRACE"):
        assert c.request(method, "/change").status_code == 405
    assert c.head("/").status_code == 200


def test_a_post_needs_the_token_json_and_a_small_body(guarded):
    c, guard = guarded
    r = c.post("/change", json={"a": 1})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    assert c.post("/change", json={}, headers={"X-CSRF-Token": "x" + guard.token[1:]}).status_code == 403
    r = c.post("/change", content=b"a=1", headers={"X-CSRF-Token": guard.token,
                                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415  # what a cross-site form would send
    r = c.post("/change", content=b"x" * (MAX_BODY + 1), headers={"X-CSRF-Token": guard.token,
                                                                   "Content-Type": "application/json"})
    assert r.status_code == 413
    assert not calls
    r = c.post("/change", json={"a": 1}, headers={"X-CSRF-Token": guard.token})
    assert r.status_code == 200 and calls == [b'{"a":1}']
    assert "access-control-allow-origin" not in r.headers  # stripped even when a handler sets it


def test_a_get_cannot_change_anything(guarded):
    c, guard = guarded
    assert c.get("/change").status_code == 405 and not calls


def test_each_start_has_its_own_token():
    assert Guard().token != Guard().token and len(Guard().token) >= 40


def test_a_failing_handler_is_a_500_and_the_app_goes_on(guarded):
    c, _ = guarded
    r = c.get("/boom")
    assert r.status_code == 500 and "broken" not in r.text  # no traceback or message leaks
    assert c.get("/").status_code == 200


def test_another_listen_address_is_accepted_as_host():
    guard = Guard("192.168.1.5", 9000)
    assert "192.168.1.5:9000" in guard.hosts() and "127.0.0.1:9000" in guard.hosts()
    assert host_literal("::1") == "[::1]" and host_literal("localhost") == "localhost"
