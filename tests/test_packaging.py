"""A non-editable install finds its shipped weights, and its console script is vcam_sharpen.cli:main."""

import os
import shutil
import subprocess
import sys
from importlib import metadata

import pytest

from conftest import REPO
from vcam_sharpen.cli import main
from vcam_sharpen.core import loader

ENTRY_POINT = "vcam_sharpen.cli:main"
pytestmark = pytest.mark.slow  # builds and installs a wheel


def test_the_console_script_of_this_install_is_the_cli():
    (ep,) = metadata.entry_points(group="console_scripts", name="vcam-sharpen")
    assert ep.value == ENTRY_POINT and ep.load() is main


def clean_copy(dest):
    """The checkout's files that git knows (tracked, or new and not ignored) copied to ``dest``: what a fresh
    clone holds. Building from the checkout itself would reuse a stale build/ folder, whose deleted weight
    files would then ship."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not src.is_symlink():  # a deleted tracked file is still listed: skip it
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory):
    """The package installed from a clean copy of this checkout into a folder of its own (no editable links)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: cannot tell its files from build leftovers")
    source = clean_copy(tmp_path_factory.mktemp("source"))
    assert not (source / "build").exists()
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, cwd=target)
    return target


def test_the_install_ships_exactly_the_weights_git_knows(wheel_install):
    tracked = subprocess.run(["git", "ls-files", "weights/*.pt"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    known = sorted(os.path.basename(p) for p in tracked if (REPO / p).is_file())
    assert sorted(p.name for p in (wheel_install / "vcam_sharpen" / "weights").glob("*.pt")) == known


def installed_env(target) -> dict:
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("DISPLAY", None)
    return env


@pytest.mark.skipif(not loader.shipped(), reason="no weights shipped yet")
def test_wheel_install_finds_default_weights(wheel_install):
    code = ("from vcam_sharpen.core import loader; print(sorted(loader.shipped())); print(loader.weights_dir()); "
            "print(loader.load('default').model_name)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=wheel_install.parent, env=installed_env(wheel_install)).stdout.splitlines()
    assert eval(out[0]) == sorted(loader.shipped())
    assert out[1].startswith(str(wheel_install))
    assert out[2] == loader.load("default").model_name


def test_wheel_install_entry_point_resolves_to_the_cli_and_runs(wheel_install):
    (dist,) = [d for d in metadata.distributions(path=[str(wheel_install)])
               if d.metadata["Name"] == "vcam-sharpen"]
    eps = [ep for ep in dist.entry_points if ep.group == "console_scripts"]
    assert [(ep.name, ep.value) for ep in eps] == [("vcam-sharpen", ENTRY_POINT)]
    code = ("from importlib import metadata; import vcam_sharpen.cli as c; "
            f"(d,) = [d for d in metadata.distributions(path=[{str(wheel_install)!r}]) "
            "if d.metadata['Name'] == 'vcam-sharpen']; "
            "(ep,) = [e for e in d.entry_points if e.name == 'vcam-sharpen']; "
            "print(ep.load() is c.main, c.__file__)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=wheel_install.parent, env=installed_env(wheel_install)).stdout.split()
    assert out[0] == "True" and out[1].startswith(str(wheel_install))  # the installed copy, not the checkout
    script = wheel_install / "bin" / "vcam-sharpen"
    assert script.is_file()
    r = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120,
                       cwd=wheel_install.parent, env=installed_env(wheel_install))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Usage: vcam-sharpen [OPTIONS] COMMAND") and "run" in r.stdout and "eval" in r.stdout
