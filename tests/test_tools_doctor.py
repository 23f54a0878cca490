"""``doctor`` and ``list-devices`` on fake sysfs trees: what is missing, and the exact fix."""

from __future__ import annotations

import pytest
from conftest_daemon import daemon_env, fake_tree  # noqa: F401

from vcam_sharpen.cli.text import checks_text, devices_text
from vcam_sharpen.tools import doctor
from vcam_sharpen.tools.doctor import Check, as_dicts


def test_doctor_without_loopback_prints_the_exact_fix(tmp_path):
    items = doctor.checks(*fake_tree(tmp_path, None), platform="linux")
    text = checks_text(items)
    assert 'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="vcam-sharpen" exclusive_caps=1' in text
    assert "/etc/modules-load.d/" in text and "/etc/modprobe.d/" in text
    assert "dev/video0 (Integrated Camera)" in text and "[ok] camera" in text
    assert any(c.ok is False and c.title == "v4l2loopback" for c in items)


def test_doctor_with_loopback(tmp_path):
    text = checks_text(doctor.checks(*fake_tree(tmp_path, "0.13.2"), platform="linux"))
    assert "[ok] v4l2loopback: loaded, version 0.13.2" in text
    assert "/dev/video10 (vcam-sharpen)" in text and "modprobe v4l2loopback devices" not in text
    assert "pass it with --vcam-device" in text
    text = checks_text(doctor.checks(*fake_tree(tmp_path / "b", "0.12.0", exclusive="N"), platform="linux"))
    assert "older than 0.12.5" in text and "[!!] exclusive_caps" in text
    text = checks_text(doctor.checks(*fake_tree(tmp_path / "d", "0.12.7"), platform="linux"))
    assert "older than 0.13" in text and "never pauses" in text
    assert "older than 0.13" not in checks_text(doctor.checks(*fake_tree(tmp_path / "e", "0.13.2"),
                                                              platform="linux"))
    devs = doctor.list_devices(*fake_tree(tmp_path / "c", "0.13.2"))
    assert [d["path"] for d in devs["cameras"]] == [str(tmp_path / "c" / "dev" / "video0")]
    assert [d["name"] for d in devs["virtual"]] == ["vcam-sharpen"]
    text = devices_text(devs)
    assert "Integrated Camera" in text and "vcam-sharpen" in text and "(--vcam-device)" in text


def test_no_camera_and_no_loopback_device(tmp_path):
    sys_root, dev_root = fake_tree(tmp_path, "0.13.2")
    (dev_root / "video0").unlink()
    (dev_root / "video10").unlink()
    text = checks_text(doctor.checks(sys_root, dev_root, platform="linux"))
    assert "[!!] camera: no /dev/video* capture device" in text and "--source demo" in text
    assert "[!!] loopback device: module loaded but no device" in text
    assert "none (use --source demo" in devices_text(doctor.list_devices(sys_root, dev_root))


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_doctor_on_windows_and_macos_asks_for_obs(tmp_path, platform):
    text = checks_text(doctor.checks(tmp_path, tmp_path, platform=platform))
    assert "OBS" in text and "Start Virtual Camera" in text


def test_checks_as_dicts_and_the_daemon_line(tmp_path):
    items = doctor.checks(*fake_tree(tmp_path, None), platform="linux")
    dicts = as_dicts(items)
    assert all(set(d) == {"ok", "title", "detail", "fix"} for d in dicts)
    assert dicts[-1] == {"ok": None, "title": "daemon", "detail": "not running", "fix": ""}
    assert checks_text([Check(True, "fine", "x", "no fix shown when fine")]) == "[ok] fine: x"
    assert checks_text([Check(None, "info", "", "hint")]) == "[--] info\n     fix: hint"
