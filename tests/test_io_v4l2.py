"""Video device nodes on a fake sysfs tree: cameras, v4l2loopback outputs, the module version."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest_daemon import fake_tree

from vcam_sharpen.io import v4l2
from vcam_sharpen.io.v4l2 import (Device, camera_devices, device_number, is_loopback, loopback_version,
                                  module_available, version_tuple, video_devices)


def test_devices_of_a_fake_tree(tmp_path):
    sys_root, dev_root = fake_tree(tmp_path, "0.13.2")
    (dev_root / "video2").touch()  # a node sysfs knows nothing about
    devs = video_devices(sys_root, dev_root)
    assert [(d.path, d.name, d.kind) for d in devs] == [
        (str(dev_root / "video0"), "Integrated Camera", "camera"),
        (str(dev_root / "video2"), "", "camera"),
        (str(dev_root / "video10"), "vcam-sharpen", "virtual"),
    ]
    assert all(isinstance(d, Device) and d.access for d in devs)  # plain files we own


def test_is_loopback_by_sysfs(tmp_path):
    sys_root, _ = fake_tree(tmp_path, "0.13.2")
    assert is_loopback("/dev/video10", sys_root) and not is_loopback("/dev/video0", sys_root)
    # a class link into the virtual devices tree counts too
    link = sys_root / "class" / "video4linux" / "video11"
    target = sys_root / "devices" / "virtual" / "other" / "video11"
    target.mkdir(parents=True)
    link.symlink_to(target)
    assert is_loopback("/dev/video11", sys_root) and not is_loopback("/dev/video12", sys_root)


def test_device_numbers_sort_numerically(tmp_path):
    names = ["video10", "video2", "video0"]
    assert sorted((Path("/dev") / n for n in names), key=device_number) == \
        [Path("/dev/video0"), Path("/dev/video2"), Path("/dev/video10")]
    assert device_number(Path("/dev/video")) == 0


def test_loopback_version(tmp_path):
    assert loopback_version(fake_tree(tmp_path / "a", None)[0]) is None  # not loaded
    assert loopback_version(fake_tree(tmp_path / "b", "0.12.7")[0]) == "0.12.7"
    sys_root, _ = fake_tree(tmp_path / "c", "x")
    (sys_root / "module" / "v4l2loopback" / "version").unlink()
    assert loopback_version(sys_root) == ""  # loaded, no version file


@pytest.mark.parametrize("text, parts", [("0.13.2", (0, 13, 2)), ("v0.12.5-dkms", (0, 12, 5)),
                                         ("1.2.3.4", (1, 2, 3)), ("", ())])
def test_version_tuple(text, parts):
    assert version_tuple(text) == parts


def test_camera_devices_only_on_linux(monkeypatch):
    monkeypatch.setattr(v4l2.sys, "platform", "darwin")
    assert camera_devices() == []


def test_module_available_without_modinfo_cannot_tell(monkeypatch):
    monkeypatch.setattr(v4l2.shutil, "which", lambda name: None)
    assert module_available() is None
