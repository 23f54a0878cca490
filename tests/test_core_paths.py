"""Where the package keeps its files: XDG variables first, the usual home folders otherwise."""

import errno
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from vcam_sharpen.cli import cli
from vcam_sharpen.core import paths
from vcam_sharpen.core.errors import UserError


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


@pytest.fixture
def tmp_fallback(home, tmp_path, monkeypatch):
    """No XDG_RUNTIME_DIR: the state folder falls back to a folder in the shared temp folder."""
    monkeypatch.setattr(paths.tempfile, "gettempdir", lambda: str(tmp_path))
    uid = os.getuid()
    return tmp_path / f"vcam-sharpen-{uid}"


def test_a_fallback_folder_created_by_the_user_is_private(tmp_fallback, monkeypatch):
    monkeypatch.setattr(os, "umask", os.umask)  # whatever the umask, the folder is 700
    old = os.umask(0)
    try:
        d = paths.runtime_dir()
    finally:
        os.umask(old)
    assert d == tmp_fallback and stat.S_IMODE(d.stat().st_mode) == 0o700


@pytest.mark.parametrize("kind", ["mode777", "mode755", "symlink", "file", "other-user"])
def test_a_fallback_folder_someone_else_could_write_is_refused(kind, tmp_fallback, tmp_path):
    """Whoever creates /tmp/vcam-sharpen-<uid> first would own the daemon's pid file: refuse, with the fix."""
    if kind.startswith("mode"):
        tmp_fallback.mkdir()
        tmp_fallback.chmod(int(kind[4:], 8))
        fix = "chmod 700"
    elif kind == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        tmp_fallback.symlink_to(tmp_path / "elsewhere")
        fix = "rm "
    elif kind == "file":
        tmp_fallback.write_text("")
        fix = "rm "
    else:
        if os.getuid() != 0:
            pytest.skip("giving a folder to another user needs root")
        tmp_fallback.mkdir(mode=0o700)
        os.chown(tmp_fallback, 65534, 65534)
        fix = "XDG_RUNTIME_DIR"
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UserError) as e:
        paths.runtime_dir()
    line = str(e.value)
    assert "\n" not in line and str(tmp_fallback) in line and fix in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing created beside or inside it
    if tmp_fallback.is_dir() and not tmp_fallback.is_symlink():
        assert list(tmp_fallback.iterdir()) == []


def test_a_state_folder_that_cannot_be_created_is_one_line(home, tmp_path, monkeypatch):
    """A read-only XDG_RUNTIME_DIR (EROFS, or EACCES for a normal user) is one line with the fix."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))

    def refuse(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(paths.Path, "mkdir", refuse)
    with pytest.raises(UserError, match="cannot create the state folder .*Read-only file system; set XDG_RUNTIME_DIR"):
        paths.runtime_dir()


@pytest.mark.parametrize("command", [["status"], ["stop"], ["toggle"], ["set", "strength", "0.5"]])
def test_commands_refuse_a_shared_state_folder_with_one_line(command, tmp_fallback):
    tmp_fallback.mkdir()
    tmp_fallback.chmod(0o777)
    (tmp_fallback / "daemon.pid").write_text("1\n")  # planted: never read
    r = CliRunner().invoke(cli, command)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "chmod 700" in lines[0] and "Traceback" not in r.output
