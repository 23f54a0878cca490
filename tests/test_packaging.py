"""A non-editable install finds its shipped weights and its entry points."""

import os
import subprocess
import sys

import pytest

from conftest import REPO
from vcam_sharpen import zoo


@pytest.mark.skipif(not zoo.shipped(), reason="no weights shipped yet")
def test_wheel_install_finds_default_weights(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(REPO)], check=True, cwd=tmp_path)
    code = "from vcam_sharpen import zoo; import sys; print(sorted(zoo.shipped())); print(zoo.weights_dir())"
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=env).stdout.splitlines()
    assert eval(out[0]) == sorted(zoo.shipped())
    assert out[1].startswith(str(target))
    assert (target / "bin" / "vcam-sharpen").exists() or any(target.glob("*.dist-info"))
