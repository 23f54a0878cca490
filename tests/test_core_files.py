"""Atomic writes: the whole new contents or the old file untouched, never a half file or a temp file."""

import os
import stat

import pytest

from vcam_sharpen.core import files
from vcam_sharpen.core.files import atomic_write


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_writes_bytes_and_text(tmp_path):
    assert atomic_write(tmp_path / "a.bin", b"\x00\x01") == tmp_path / "a.bin"
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    atomic_write(tmp_path / "a.txt", "grüße")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "grüße"
    atomic_write(tmp_path / "a.txt", "replaced")
    assert (tmp_path / "a.txt").read_text() == "replaced" and leftovers(tmp_path) == []


def test_modes_private_or_ordinary(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "public", "x")
        atomic_write(tmp_path / "secret", "x", private=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "public").stat().st_mode) == 0o644  # not mkstemp's 0600
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_original_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    target.write_text("original")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, "new contents")
    assert target.read_text() == "original" and leftovers(tmp_path) == []


def test_an_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    real_fdopen = files.os.fdopen

    class Interrupted:
        def __init__(self, fd, mode):
            self.f = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:3])
            raise KeyboardInterrupt  # Ctrl-C half way

    monkeypatch.setattr(files.os, "fdopen", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new and longer")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_a_folder_that_refuses_new_files_leaves_the_file_alone(tmp_path, monkeypatch):
    """What a read-only folder does (simulated: root could write there anyway)."""
    target = tmp_path / "config.toml"
    target.write_text("kept")

    def refused(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(files.tempfile, "mkstemp", refused)
    with pytest.raises(OSError, match="cannot write .*Permission denied; pick a writable folder"):
        atomic_write(target, "new")
    assert target.read_text() == "kept" and leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_an_os_error_and_the_file_stays(tmp_path):
    target = tmp_path / "config.toml"
    target.write_text("kept")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OSError):
            atomic_write(target, "new")
        assert target.read_text() == "kept" and leftovers(tmp_path) == []
    finally:
        tmp_path.chmod(0o700)


def test_a_missing_folder_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        atomic_write(tmp_path / "no" / "such" / "file", "x")
    assert list(tmp_path.iterdir()) == []
