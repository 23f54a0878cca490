"""The systemd --user unit: written once, never silently replaced, ExecStart quoted for systemd."""

from __future__ import annotations

import sys

import pytest
from conftest_daemon import daemon_env  # noqa: F401

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.paths import config_home
from vcam_sharpen.daemon import service


def test_install_service(tmp_path):
    unit = tmp_path / "u" / "vcam-sharpen.service"
    path, outcome = service.install_from_overrides({"source": "demo", "output": ["vcam"]}, path=unit)
    text = unit.read_text()
    assert outcome == "written" and path == unit
    assert "Restart=on-failure" in text and "-m vcam_sharpen -v run --source demo --output vcam" in text
    assert "WantedBy=default.target" in text
    assert service.install_from_overrides({"source": "demo", "output": ["vcam"]}, path=unit)[1] == "unchanged"
    with pytest.raises(UserError, match="--force"):
        service.install_from_overrides({"source": "0"}, path=unit)
    assert unit.read_text() == text  # not overwritten
    assert service.install_from_overrides({"source": "0"}, path=unit, force=True)[1] == "replaced"
    assert "--source 0" in unit.read_text()
    with pytest.raises(UserError, match="--fps"):
        service.install_from_overrides({"fps": 0.0}, path=tmp_path / "x.service")
    with pytest.raises(UserError, match="is a folder"):
        service.install_from_overrides({}, path=tmp_path)


def test_only_typed_options_are_baked_in(tmp_path):
    unit = tmp_path / "vcam-sharpen.service"
    service.install_from_overrides({"vcam_device": "/dev/video10"}, path=unit)
    exec_start = next(line for line in unit.read_text().splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith("-m vcam_sharpen -v run --vcam-device /dev/video10")


def test_quoting_and_the_default_path():
    assert service._quote("a b%") == '"a b%%"'
    assert service._quote('say "hi"') == '"say \\"hi\\""'
    assert service._quote("/usr/bin/python3") == "/usr/bin/python3"
    assert service.unit_path() == config_home() / "systemd" / "user" / "vcam-sharpen.service"
    assert f"ExecStart={sys.executable} -m vcam_sharpen" in service.unit_text([])
    assert "enable --now" in service.next_steps(service.unit_path())
    assert "copy it to" in service.next_steps(config_home() / "elsewhere.service")
