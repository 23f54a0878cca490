"""Where the package keeps its files: XDG variables first, the usual home folders otherwise."""

import stat
from pathlib import Path

import pytest

from vcam_sharpen.core import paths


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def test_defaults_under_home_and_nothing_created(home):
    assert paths.config_home() == home / ".config"
    assert paths.config_path() == home / ".config" / "vcam-sharpen" / "config.toml"
    assert paths.cache_home() == home / ".cache" / "vcam-sharpen"
    assert paths.data_home() == home / ".local" / "share" / "vcam-sharpen"
    assert not home.exists()  # computing a path creates nothing


def test_xdg_variables_win(home, tmp_path, monkeypatch):
    for var, name in (("XDG_CONFIG_HOME", "c"), ("XDG_CACHE_HOME", "k"), ("XDG_DATA_HOME", "d")):
        monkeypatch.setenv(var, str(tmp_path / name))
    assert paths.config_path() == tmp_path / "c" / "vcam-sharpen" / "config.toml"
    assert paths.cache_home() == tmp_path / "k" / "vcam-sharpen"
    assert paths.data_home() == tmp_path / "d" / "vcam-sharpen"
    monkeypatch.setenv("XDG_CONFIG_HOME", "")  # empty means unset
    assert paths.config_home() == home / ".config"


def test_runtime_dir_is_created_private(home, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    d = paths.runtime_dir()
    assert d == tmp_path / "vcam-sharpen" and d.is_dir() and stat.S_IMODE(d.stat().st_mode) == 0o700
    assert paths.runtime_dir() == d  # again: fine


def test_runtime_dir_without_xdg_is_a_private_temp_folder(home, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))  # set but absent: not used
    monkeypatch.setattr(paths.tempfile, "gettempdir", lambda: str(tmp_path))
    d = paths.runtime_dir()
    assert d.parent == tmp_path and d.name.startswith("vcam-sharpen-") and d.is_dir()
    assert stat.S_IMODE(d.stat().st_mode) == 0o700 and not (tmp_path / "missing").exists()
    assert isinstance(d, Path)
