"""The panel and the MOS page in a real browser: headless Chromium (Debian's) driven by Playwright.

Skips where Playwright or Chromium is missing. The browser may reach 127.0.0.1 only: every other
request is aborted (and recorded), and host resolution is switched off for every other name.
The tests save the screenshots of ``docs/panel.md`` (``docs/panel.png``, ``panel-paused.png``, ``mos.png``) when
they are missing, or always with ``VCAM_SHARPEN_SCREENSHOT=1``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
from conftest_daemon import REPO, cli_env, daemon_env, daemons, recording_backend, vcam, wait_for  # noqa: F401
from conftest_web import make_study

from vcam_sharpen.daemon import lifecycle
from vcam_sharpen.daemon.lock import read_state
from vcam_sharpen.daemon.panel import PanelHandle, model_task, offered_models
from vcam_sharpen.io import vcam as vcam_mod
from vcam_sharpen.io.sources import DemoSource
from vcam_sharpen.quality.mos_store import Store

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and Path(p).is_file()), None)
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)"),
              pytest.mark.slow]  # a real Chromium and daemon
ARGS = ["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--no-proxy-server",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--disable-default-apps"]


@pytest.fixture
def page():
    """A fresh page in headless Chromium that may contact 127.0.0.1 only."""
    contacted: set[str] = set()
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        except Exception as e:  # noqa: BLE001 - a browser that does not start here: skip, do not fail
            pytest.skip(f"Chromium does not start: {str(e).splitlines()[0]}")
        context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")

        def only_loopback(route):
            host = urlsplit(route.request.url).hostname or ""
            contacted.add(host)
            if host == "127.0.0.1":
                route.continue_()
            else:
                route.abort()

        context.route("**/*", only_loopback)
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        try:
            yield pg
        finally:
            browser.close()
    assert contacted <= {"127.0.0.1"}, f"the browser tried to reach {contacted - {'127.0.0.1'}}"


def until(page, predicate, timeout: float = 30.0):
    """Poll ``predicate()`` while the page's event loop runs (the sync API serves the request filter, and so
    lets requests through, only inside its own calls: a plain sleep would hold every request)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out after {timeout} s")


def status() -> dict:
    return json.loads(vcam("status", "--json").stdout)


def save_screenshot(page, name: str, tmp_path: Path, **kw) -> None:
    """``docs/NAME`` from the page when it is missing (or always with ``VCAM_SHARPEN_SCREENSHOT=1``), as a small PNG
    (:func:`small_png`)."""
    target = REPO / "docs" / name
    if target.is_file() and os.environ.get("VCAM_SHARPEN_SCREENSHOT") != "1":
        return
    shot = tmp_path / name
    page.screenshot(path=str(shot), **kw)
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(small_png(shot.read_bytes()))


def small_png(data: bytes, limit: int = 300_000) -> bytes:
    """A screenshot re-encoded under ``limit`` bytes: colours rounded to fewer levels until it fits (the layout and
    text stay pixel for pixel; photos in it get a little banding)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    for step in (1, 4, 8, 16, 32):
        q = img if step == 1 else ((img // step) * step + step // 2).astype(np.uint8)
        ok, buf = cv2.imencode(".png", q, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if ok and len(buf) < limit:
            return buf.tobytes()
    raise AssertionError(f"the screenshot does not fit in {limit} bytes")


def options(page, sel: str) -> list[str]:
    return page.locator(sel).evaluate("s => Array.from(s.options).map(o => o.value)")


def controls_inside(page, width: int) -> list[str]:
    """The visible controls whose bounding box is not inside ``0..width`` (none on a layout that fits)."""
    out = []
    for loc in page.locator("select, button, input[type=range], .switch, a").all():
        box = loc.bounding_box()
        if box is None or box["width"] == 0:
            continue
        if box["x"] < 0 or box["x"] + box["width"] > width + 0.5:
            out.append(f"{loc.evaluate('e => e.id || e.className || e.tagName')}: {box}")
    return out


def test_the_panel_in_a_browser(daemons, page, tmp_path):  # noqa: F811
    r = vcam("start", "--source", "demo", "--output", "null", "--size", "640x360", "--model", "student", "--panel",
             "--panel-port", "0")
    assert r.returncode == 0, r.stderr
    url = status()["panel_url"]
    page.goto(url, wait_until="load", timeout=15_000)
    assert page.title() == "vcam-sharpen"
    # polled from here: the page's CSP forbids the eval that page.wait_for_function would need
    until(page, lambda: "sharpened" in page.locator("#figures").text_content(), timeout=30)
    until(page, lambda: all(page.locator(f"#{side}").evaluate("img => img.naturalWidth") > 0
                         for side in ("before", "after")), timeout=30)
    assert page.locator("#state").text_content() == "Running" and page.locator("#cover").is_hidden()
    first = page.locator("#after").screenshot()
    page.wait_for_timeout(1500)  # the demo scene drifts: a later preview differs
    assert page.locator("#after").screenshot() != first
    assert page.locator("#model").input_value() == "student" and page.locator("#mode").input_value() == "degrade"

    # only the models that run in the mode; a mode change picks that mode's default, in the user's words
    offered = offered_models("student", "degrade")
    assert options(page, "#model") == offered["degrade"] and "enhance" not in offered["degrade"]
    assert all(model_task(m) in (None, "2x") for m in options(page, "#model"))
    page.locator("#mode").select_option("same")
    assert options(page, "#model") == offered["same"] and "student" not in offered["same"]
    until(page, lambda: "uses enhance" in page.locator("#msg-model").text_content(), timeout=15)
    assert "--" not in page.locator("#msg-model").text_content()
    until(page, lambda: status().get("model") == "enhance" and not status().get("rebuilding"), timeout=90)
    assert page.locator("#model").input_value() == "enhance"
    page.locator("#mode").select_option("degrade")
    until(page, lambda: status().get("model") == "student" and not status().get("rebuilding"), timeout=90)
    until(page, lambda: page.locator("#model").input_value() == "student", timeout=15)
    page.locator("#temporal").select_option("on")  # the temporal stage and static-region reuse, live
    until(page, lambda: status().get("temporal") == "on", timeout=15)
    page.locator("#skip_static").uncheck()
    until(page, lambda: status().get("skip_static") is False, timeout=15)

    page.locator("#strength").fill("0.4")  # the slider: an input event, posted to the daemon
    until(page, lambda: status().get("strength") == 0.4, timeout=15)
    assert page.locator("#strength-value").text_content() == "0.40"
    page.locator("#split").check()
    until(page, lambda: status().get("split") is True, timeout=15)
    assert page.locator("#divider").is_visible()
    page.wait_for_timeout(1200)  # a status refresh or two with the previews coming
    st = status()
    assert st["fps_out"] > 20 and st["status"] == "running", st  # the camera path keeps its rate while watched
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(500)
    save_screenshot(page, "panel.png", tmp_path, full_page=True)

    page.set_viewport_size({"width": 360, "height": 780})  # a phone: one column, nothing cut off
    page.wait_for_timeout(300)
    assert controls_inside(page, 360) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 900})

    page.locator("#save").click()
    until(page, lambda: page.locator("#message").text_content().startswith("Saved to"), timeout=15)
    cfg = (Path(os.environ["XDG_CONFIG_HOME"]) / "vcam-sharpen" / "config.toml").read_text()
    assert "strength = 0.4" in cfg and "split = true" in cfg

    rows = page.locator("#figures dt").all_text_contents()
    assert vcam("stop").returncode == 0  # stopped: said so, the last figures kept but greyed, controls off
    until(page, lambda: page.locator("#state").text_content() == "Stopped", timeout=15)
    assert "not running" in page.locator("#cover").text_content() and page.locator("#save").is_disabled()
    # the daemon's last figures stay (one more poll may land while `stop` runs: values a second newer, same rows)
    kept = page.locator("#figures").text_content()
    assert page.locator("#figures dt").all_text_contents() == rows and "Uptime" in kept
    page.wait_for_timeout(2500)  # and no poll changes them any more
    assert page.locator("#figures").text_content() == kept
    assert float(page.locator("#figures").evaluate("e => getComputedStyle(e).opacity")) < 0.6
    until(page, lambda: "last update" in page.locator("#stale").text_content(), timeout=5)


def test_a_paused_daemon_page_loads_and_says_so(page, tmp_path, monkeypatch, recording_backend):  # noqa: F811
    class Nobody:  # the virtual camera saying: no app reads it
        def readers(self):
            return 0

        def close(self):
            pass

    monkeypatch.setattr(vcam_mod, "open_monitor", lambda device, backend: Nobody())
    monkeypatch.setattr(lifecycle, "PAUSE_AFTER_S", 0.2)
    pipes = []
    start = PanelHandle.start
    monkeypatch.setattr(PanelHandle, "start", lambda self, pipeline, *a, **k: pipes.append(pipeline)
                        or start(self, pipeline, *a, **k))
    run = threading.Thread(target=lifecycle.run, daemon=True, args=(
        {"source": "demo", "output": ["vcam"], "backend": "recording", "model": "student", "size": "640x360",
         "panel": True, "panel_port": 0},), kwargs={"frames": None})
    run.start()
    try:
        st = wait_for(lambda: (s := read_state() or {}).get("paused") and s.get("panel_url") and s, timeout=60)
        # the page finishes loading though no frame ever comes (the load event fires), and shows the paused card
        page.goto(st["panel_url"], wait_until="load", timeout=15_000)
        until(page, lambda: page.locator("#state").text_content() == "Paused", timeout=15)
        assert page.locator("#cover").is_visible() and "no app is using the camera" in page.locator("#cover-title")\
            .text_content()
        assert "none (paused)" in page.locator("#figures").text_content()
        page.emulate_media(color_scheme="dark")
        page.wait_for_timeout(300)
        save_screenshot(page, "panel-paused.png", tmp_path, clip={"x": 0, "y": 0, "width": 1280, "height": 640})
    finally:
        for pipe in pipes:
            pipe.stop()
        run.join(30)
    assert not run.is_alive()


def test_a_mos_session_of_five_ratings_in_a_browser(page, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    (tmp_path / "pictures").mkdir()  # a 720p still of the demo scene: larger than a 1280x800 window's stage
    cv2.imwrite(str(tmp_path / "pictures" / "demo.png"), DemoSource((1280, 720)).frame_at(0))
    folder, manifest = make_study(tmp_path, picture_made=True)
    db = tmp_path / "ratings.sqlite"
    stim = {s["id"]: s for s in manifest["stimuli"]}
    proc = subprocess.Popen([sys.executable, "-m", "vcam_sharpen", "mos", "serve", "--dir", str(folder), "--db",
                             str(db), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=cli_env())
    try:
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", proc.stdout.readline()).group(1)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(url)
        scale = " ".join(page.locator(".scale").text_content().split())
        assert "5 Excellent" in scale and "1 Bad" in scale and "5. 5" not in scale
        page.locator("#start").click()
        for i in range(5):
            until(page, lambda: page.locator("#progress").text_content() == f"Picture {i + 1} of 5", timeout=15)
            until(page, lambda: page.locator("#stimulus").evaluate("img => img.complete && img.naturalWidth > 0"),
                  timeout=15)
            src = page.locator("#stimulus").get_attribute("src")
            sid = re.search(r"stimulus/([0-9a-f]{16})(-crop)?\.png", src).group(1)
            # the whole trial in the window: no scrolling, every rating button and Next in view
            assert page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]") \
                == [1280, 800]
            for loc in [*page.locator("label.score").all(), page.locator("#next")]:
                box = loc.bounding_box()
                assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= 1280 \
                    and box["y"] + box["height"] <= 800, box
            # never rescaled: the 720p picture does not fit, so its 1:1 crop is shown, pixel for pixel
            shown = page.locator("#stimulus").evaluate("img => [img.naturalWidth, img.naturalHeight, img.width, "
                                                       "img.height]")
            assert src.endswith("-crop.png") and shown == [960, 540, 960, 540], (src, shown)
            if i == 0:
                save_screenshot(page, "mos.png", tmp_path)
                page.set_viewport_size({"width": 800, "height": 500})  # not even the crop fits: no picture, a request
                until(page, lambda: page.locator("#too-small").is_visible())
                assert page.locator("#stimulus").is_hidden() and "larger" in page.locator("#too-small").text_content()
                assert page.locator('input[name="score"][value="3"]').is_disabled()
                page.set_viewport_size({"width": 1280, "height": 800})
                until(page, lambda: page.locator("#stimulus").is_visible())
            score = stim[sid].get("expected", 5 if stim[sid]["method"] == "reference" else 4)  # the trap asks for 2
            page.keyboard.press(str(6 - score))  # keys choose ...
            assert page.locator(f'input[name="score"][value="{6 - score}"]').is_checked()
            page.keyboard.press(str(score))  # ... and change the choice
            assert page.locator(f'input[name="score"][value="{score}"]').is_checked()
            assert page.locator("input[name=score]:checked").count() == 1
            if i == 4:  # a window the whole picture fits: shown whole, 1:1
                page.set_viewport_size({"width": 1600, "height": 1000})
                until(page, lambda: not page.locator("#stimulus").get_attribute("src").endswith("-crop.png"))
                until(page, lambda: page.locator("#stimulus").evaluate("img => [img.naturalWidth, img.width]")
                      == [1280, 1280])
            page.keyboard.press("Enter")  # Enter: the next picture
        page.wait_for_selector("#done:not([hidden])")
        assert "All 5 pictures are rated" in page.locator("#summary").text_content()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    with Store(db) as store:
        rows = store.ratings(manifest["study"])
    assert len(rows) == 5 and len({r["rater"] for r in rows}) == 1 and not any(r["flagged"] for r in rows)
    r = vcam("mos", "report", "--db", db, "--dir", folder, "--csv", tmp_path / "r.csv", "--chart", tmp_path / "r.png")
    assert r.returncode == 0, r.stderr
    assert "5 ratings from 1 rater (0 flagged by the trap); 1 trap rating; 4 ratings used" in r.stdout
    print(r.stdout)
