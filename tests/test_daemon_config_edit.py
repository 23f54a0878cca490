"""The panel's Save: only the saved keys change, everything else the user wrote stays, a failed save loses nothing."""

from __future__ import annotations

import os

import pytest
from conftest_daemon import daemon_env  # noqa: F401

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.paths import config_path
from vcam_sharpen.daemon.config_edit import save, set_keys, toml_value
from vcam_sharpen.daemon.settings import read_config

WRITTEN = """# my camera
source = "/dev/video2"   # the USB one
model = "student"  # was student-deep

fps = 24
output = ["vcam",
          "pipewire"]
strength = 1.0
"""


def test_only_the_saved_keys_change(tmp_path):
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(WRITTEN)
    save({"model": "seed-student", "degrade": 1, "strength": 0.6, "split": True})
    text = path.read_text()
    assert text.startswith('# my camera\nsource = "/dev/video2"   # the USB one\n')
    assert 'model = "seed-student"  # was student-deep\n' in text and "strength = 0.6\n" in text
    assert 'output = ["vcam",\n          "pipewire"]\n' in text and "fps = 24\n" in text
    assert text.endswith("degrade = 1\nsplit = true\n")
    cfg = read_config(path)
    assert cfg["model"] == "seed-student" and cfg["degrade"] == 1 and cfg["split"] is True and cfg["fps"] == 24.0
    assert cfg["output"] == ["vcam", "pipewire"] and cfg["source"] == "/dev/video2"


def test_a_new_file_and_keys_before_a_table():
    save({"strength": 0.25})
    assert read_config()["strength"] == 0.25 and config_path().read_text().startswith("# vcam-sharpen settings")
    text = set_keys('fps = 30\n[extra]\nmodel = "x"\n', {"model": '"student"'})
    assert text == 'fps = 30\nmodel = "student"\n[extra]\nmodel = "x"\n'
    assert set_keys('"model" = "a" # c\r\n', {"model": '"b"'}) == '"model" = "b" # c\r\n'
    assert toml_value('say "hi"') == '"say \\"hi\\""' and toml_value(False) == "false" and toml_value(0.5) == "0.5"


@pytest.mark.parametrize("text, words", [
    ('model = \n', "does not parse"),
    ('model = """student\n"""\n', "cannot change model safely"),
])
def test_a_file_it_cannot_edit_safely_is_left_alone(text, words):
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(UserError, match=words):
        save({"model": "student"})
    assert path.read_text() == text


def test_bad_values_write_nothing():
    for values, words in (({"strength": 3}, "strength"), ({"model": "nope"}, "unknown model"),
                          ({"colour": 1}, "unknown setting")):
        with pytest.raises(UserError, match=words):
            save(values)
    assert not config_path().exists()


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root writes anywhere")
def test_an_unwritable_folder_loses_nothing():
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(WRITTEN)
    path.parent.chmod(0o500)
    try:
        with pytest.raises(OSError):
            save({"strength": 0.5})
    finally:
        path.parent.chmod(0o700)
    assert path.read_text() == WRITTEN and [p.name for p in path.parent.iterdir()] == ["config.toml"]


def test_a_failed_write_loses_nothing(monkeypatch):
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(WRITTEN)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError):
        save({"strength": 0.5})
    assert path.read_text() == WRITTEN and [p.name for p in path.parent.iterdir()] == ["config.toml"]


@pytest.mark.parametrize("kind", ["fifo", "folder", "parent-is-a-file"])
def test_save_refuses_what_is_not_a_config_file_and_changes_nothing(tmp_path, kind):
    path = tmp_path / "vcam-sharpen" / "config.toml"
    if kind == "parent-is-a-file":
        (tmp_path / "vcam-sharpen").write_text("not a folder")
    else:
        path.parent.mkdir()
        os.mkfifo(path) if kind == "fifo" else path.mkdir()
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(UserError) as e:
        save({"strength": 0.5}, path)
    assert "\n" not in str(e.value) and "config" in str(e.value)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
