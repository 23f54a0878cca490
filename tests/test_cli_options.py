"""The settings commands' options come from the settings table: one default, range and choice list each."""

from __future__ import annotations

from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner
from conftest_daemon import daemon_env  # noqa: F401

from vcam_sharpen.cli import cli
from vcam_sharpen.cli.options import settings_options
from vcam_sharpen.daemon.settings import Settings, check_value, setting, table

COMMANDS = ("run", "start", "install-service", "config")


def _options(command: str) -> dict[str, click.Option]:
    return {p.name: p for p in cli.commands[command].params if isinstance(p, click.Option)}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_matches_its_row(command):
    options = _options(command)
    for name, row in table().items():
        opt = options[name]
        default = row["default"]
        assert opt.help == row["help"] and opt.show_default, name
        if isinstance(default, bool) and row["metavar"] == "on|off":  # --skip-static on|off
            assert list(opt.type.choices) == ["on", "off"] and opt.default == ("on" if default else "off"), name
        elif isinstance(default, bool):
            assert opt.is_flag and opt.default is default and opt.secondary_opts, name
        elif row["choices"] is not None and isinstance(default, int):  # e.g. degrade 1|2: a range of whole numbers
            assert (opt.type.min, opt.type.max) == (min(row["choices"]), max(row["choices"])) and opt.default == default
        elif row["choices"] is not None:
            assert list(opt.type.choices) == [str(c) for c in row["choices"]] and opt.default == str(default)
        elif isinstance(default, (int, float)):
            assert opt.default == default and (opt.type.min, opt.type.max) == (row["lo"], row["hi"]), name
        elif isinstance(default, list):
            assert opt.multiple and list(opt.default) == default
        elif isinstance(default, tuple):
            assert opt.default == "x".join(map(str, default))
        else:
            assert opt.default == default, name


def test_every_setting_says_what_it_does():
    assert not [name for name, row in table().items() if not row["help"]], "give each setting() a help text"


@pytest.mark.parametrize("name", [n for n, r in table().items() if r["lo"] is not None])
def test_the_option_and_the_settings_check_share_each_range(name):
    row = table()[name]
    kind = type(row["default"])
    below, above = (row["lo"] - 1, row["hi"] + 1) if kind is int else (row["lo"] - 0.01, row["hi"] + 0.01)
    for value in (below, above):
        with pytest.raises(ValueError):
            check_value(name, kind(value))
        r = CliRunner().invoke(cli, ["config", "--" + name.replace("_", "-"), str(kind(value))])
        assert r.exit_code == 2 and "\n" not in r.stderr.strip(), r.output
    for value in (row["lo"], row["hi"]):
        assert check_value(name, kind(value)) == kind(value)
    assert "nan" not in str(check_value(name, row["default"]))
    with pytest.raises(ValueError):
        check_value(name, float("nan"))


def test_config_shows_defaults_that_equal_the_table():
    r = CliRunner().invoke(cli, ["config"])
    assert r.exit_code == 0, r.output
    assert "fps = 30  # default" in r.stdout and 'engine = "auto"  # default' in r.stdout
    assert "degrade = 2  # default" in r.stdout


def test_a_new_setting_is_one_row():
    @dataclass
    class More(Settings):
        temporal: str = setting("auto", "Temporal noise reduction.", choices=("auto", "on", "off"))
        skip_static: bool = setting(False, "Reuse the output where the picture did not change.")
        radius: int = setting(3, "A radius.", lo=1, hi=9)

    seen = {}

    @click.command()
    def command(**kw):
        seen.update(kw)

    command = settings_options(command, More)
    r = CliRunner().invoke(command, ["--temporal", "on", "--skip-static", "--radius", "4"])
    assert r.exit_code == 0, r.output
    assert seen["temporal"] == "on" and seen["skip_static"] is True and seen["radius"] == 4
    assert seen["fps"] == 30.0 and seen["degrade"] == 2
    r = CliRunner().invoke(command, ["--temporal", "sometimes"])
    assert r.exit_code == 2 and "auto" in r.output
    r = CliRunner().invoke(command, ["--radius", "10"])
    assert r.exit_code == 2
    assert "--skip-static / --no-skip-static" in CliRunner().invoke(command, ["--help"]).output
