"""The panel app with stand-in hooks: the page, status, validated changes, Save, the preview routes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest_daemon import wait_for
from conftest_web import client, token_of
from test_web_preview import FakePipeline

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.web.panel_app import Busy, PanelHooks, check_changes, create_panel, mode_name
from vcam_sharpen.web.pages import BadRequest
from vcam_sharpen.web.security import Guard

MODELS = {"degrade": ["auto", "none", "student", "seed-student"], "upscale": ["auto", "none", "student"],
          "same": ["auto", "none", "enhance"]}
DEFAULTS = {"degrade": "student", "upscale": "student", "same": "enhance"}


class Hooks:
    def __init__(self) -> None:
        self.settings = {"model": "student", "degrade": 2, "upscale": False, "strength": 1.0, "split": False}
        self.applied, self.saved = [], []
        self.fail: Exception | None = None

    def apply(self, changes):
        if self.fail is not None:
            raise self.fail
        self.applied.append(changes)
        self.settings.update({k: v for k, v in changes.items() if k in self.settings})
        return self.settings

    def save(self, values):
        if isinstance(self.fail, OSError):
            raise self.fail
        self.saved.append(values)
        return Path("/x/config.toml")

    def hooks(self) -> PanelHooks:
        return PanelHooks(status=lambda: {"running": True, "status": "running", "fps_out": 30.0},
                          apply=self.apply, current=lambda: dict(self.settings), save_settings=self.save,
                          models=MODELS, defaults=DEFAULTS)


@pytest.fixture
def panel(tmp_path):
    hooks = Hooks()
    app, hub = create_panel(FakePipeline(), hooks.hooks(), Guard("127.0.0.1", 8717), study_dir=tmp_path / "none",
                            db=tmp_path / "db.sqlite")
    c = client(app)
    token = token_of(c.get("/").text)
    return c, {"X-CSRF-Token": token}, hooks, hub


def test_the_page_and_its_assets(panel):
    c, h, _, _ = panel
    page = c.get("/")
    assert page.status_code == 200 and 'src="/static/panel.js"' in page.text and "{{" not in page.text
    assert c.get("/static/panel.js").headers["content-type"].startswith("text/javascript")
    assert c.get("/static/panel.css").status_code == 200
    assert c.get("/static/../security.py").status_code == 404 and c.get("/static/panel.html").status_code == 404


def test_status_has_the_daemon_figures_and_the_choices(panel):
    c, _, _, _ = panel
    st = c.get("/api/status").json()
    assert st["fps_out"] == 30.0 and st["panel"]["models"] == MODELS and st["panel"]["defaults"] == DEFAULTS
    assert {"strength", "sharpening", "split"} <= set(st["panel"]["live"])
    assert st["panel"]["settings"]["mode"] == "degrade" and st["panel"]["modes"] == ["degrade", "upscale", "same"]
    assert st["panel"]["preview"]["viewers"] == 0


def test_changes_are_applied(panel):
    c, h, hooks, _ = panel
    r = c.post("/api/settings", json={"strength": 0.25, "split": True, "sharpening": False}, headers=h)
    assert r.status_code == 200 and hooks.applied == [{"strength": 0.25, "split": True, "sharpening": False}]
    r = c.post("/api/settings", json={"model": "enhance", "mode": "same"}, headers=h)
    assert r.status_code == 200 and hooks.applied[-1] == {"model": "enhance", "mode": "same"}
    assert r.json()["note"] is None


def test_a_mode_change_keeps_a_model_that_fits_and_else_picks_the_modes_default(panel):
    c, h, hooks, _ = panel
    r = c.post("/api/settings", json={"mode": "upscale"}, headers=h)  # student works there: kept
    assert r.status_code == 200 and hooks.applied[-1] == {"mode": "upscale"} and r.json()["note"] is None
    r = c.post("/api/settings", json={"mode": "same"}, headers=h)  # it does not here: the mode's default
    assert r.status_code == 200 and hooks.applied[-1] == {"mode": "same", "model": "enhance"}
    assert r.json()["model"] == "enhance"
    assert "uses enhance" in r.json()["note"] and "--" not in r.json()["note"]


def test_the_models_of_each_mode(panel):
    c, _, _, _ = panel
    assert c.get("/api/models?mode=same").json() == {"mode": "same", "models": MODELS["same"], "default": "enhance"}
    assert c.get("/api/models?mode=fast").status_code == 404


@pytest.mark.parametrize("body, status, words", [
    ({"strength": 1.5}, 400, "strength"), ({"strength": "0.5"}, 400, "strength"), ({"strength": True}, 400, "strength"),
    ({"strength": float("nan")}, 400, "NaN"), ({"split": "yes"}, 400, "true or false"),
    ({"model": "/etc/passwd.pt"}, 400, "not one the panel offers"), ({"model": ["student"]}, 400, "model"),
    ({"model": "enhance"}, 400, "enhance does not work in simulated 2x link mode"),
    ({"model": "student", "mode": "same"}, 400, "student does not work in same size mode"),
    ({"mode": "fast"}, 400, "mode must be one of"), ({"fps": 60}, 400, "unknown setting"), ({}, 400, "no setting"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_changes_are_a_4xx_with_a_message(panel, body, status, words):
    c, h, hooks, _ = panel
    if isinstance(body, dict) and any(isinstance(v, float) and v != v for v in body.values()):
        r = c.post("/api/settings", content=b'{"strength": NaN}', headers={**h, "Content-Type": "application/json"})
    else:
        r = c.post("/api/settings", json=body, headers=h)
    assert r.status_code == status and words in r.json()["error"]
    assert not hooks.applied


def test_refused_and_busy_changes(panel):
    c, h, hooks, _ = panel
    hooks.fail = UserError("this model is a 2x model")
    r = c.post("/api/settings", json={"mode": "same"}, headers=h)
    assert r.status_code == 400 and "is a 2x model" in r.json()["error"]
    hooks.fail = Busy("a model change is in progress")
    assert c.post("/api/settings", json={"model": "none"}, headers=h).status_code == 409


def test_save_writes_what_is_in_effect_only_on_request(panel):
    c, h, hooks, _ = panel
    c.post("/api/settings", json={"strength": 0.5}, headers=h)
    assert hooks.saved == []  # changing is not saving
    r = c.post("/api/save", json={}, headers=h)
    assert r.status_code == 200 and r.json()["path"] == "/x/config.toml"
    assert hooks.saved == [{"model": "student", "degrade": 2, "upscale": False, "strength": 0.5, "split": False}]
    assert c.post("/api/save", json={"model": "x"}, headers=h).status_code == 400
    assert c.get("/api/save").status_code == 405
    hooks.fail = OSError(28, "No space left on device")
    r = c.post("/api/save", json={}, headers=h)
    assert r.status_code == 500 and "nothing was changed" in r.json()["error"]


def test_preview_routes(panel):
    c, _, _, hub = panel
    assert c.get("/api/preview/sideways.jpg").status_code == 404
    assert c.get("/api/preview/after.jpg?view=zoom").status_code == 404
    assert c.get("/api/preview/after.jpg").status_code == 503  # hub not started: nothing yet, and it says so
    hub.start()
    try:
        r = wait_for(lambda: (r := c.get("/api/preview/after.jpg")).status_code == 200 and r, timeout=5)
        assert r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    finally:
        hub.close()


def test_the_mos_page_without_a_study_says_how_to_make_one(panel, tmp_path):
    c, _, _, _ = panel
    r = c.get("/mos/")
    assert r.status_code == 404 and "vcam-sharpen mos prepare" in r.json()["error"]
    assert not (tmp_path / "db.sqlite").exists()


def test_check_changes_and_mode_names():
    assert check_changes({"strength": 1}, MODELS) == {"strength": 1.0}
    with pytest.raises(BadRequest):
        check_changes({"model": "teacher"}, MODELS)
    cur = {"model": "seed-student", "degrade": 2, "upscale": False}
    assert check_changes({"mode": "upscale"}, MODELS, cur, DEFAULTS) == {"mode": "upscale", "model": "student"}
    assert check_changes({"mode": "same"}, MODELS, cur, {}) == {"mode": "same", "model": "auto"}  # no default: first
    assert [mode_name(*m) for m in ((2, False), (1, True), (1, False))] == ["degrade", "upscale", "same"]


HOSTILE_BODIES = [  # raw bodies that once gave 500s; each is a 400 with a message now
    (b"[" * 30_000 + b"]" * 30_000, "nests deeper"),
    (b'{"strength": ' + b"[" * 9 + b"]" * 9 + b"}", "nests deeper"),
    (b'{"mode": {}}', "mode must be one of"),
    (b'{"mode": []}', "mode must be one of"),
    (b'{"mode": 5}', "mode must be one of"),
    (b'{"model": {}}', "not one the panel offers"),
    (b'{"strength": ' + b"9" * 400 + b"}", "at most 18"),
    (b'{"strength": -' + b"9" * 400 + b"}", "at most 18"),
    (b'{"strength": 1e999}', "too large"),
    (b'{"strength": Infinity}', "not JSON"),
    (b'{"split": "\xff"}', "not UTF-8"),
    (b'{"strength": 0.5, "strength": [}', "not JSON"),
    (b'{"' + b"k" * 5000 + b'": 1}', "unknown setting"),
]


@pytest.mark.parametrize("raw, words", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_hostile_json_is_a_400_never_a_500(panel, raw, words):
    c, h, hooks, _ = panel
    r = c.post("/api/settings", content=raw, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert words in r.json()["error"] and len(r.json()["error"]) < 200
    assert not hooks.applied
    r = c.post("/api/save", content=raw, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and not hooks.saved
