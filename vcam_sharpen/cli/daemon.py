"""Daemon commands (start, run, stop, status, toggle, doctor, list-devices, install-service, config)."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

import click
from click.core import ParameterSource

from ..daemon import control, lifecycle
from ..daemon.service import install_from_overrides, next_steps
from ..daemon.settings import Settings, effective
from ..tools import doctor
from .app import Finite, cli
from .options import settings_options as table_options
from .text import checks_text, devices_text, set_text, settings_text, status_text, summary_text

SETTINGS = tuple(f.name for f in fields(Settings))  # every setting is also an option


def settings_options(f):
    """The pipeline options shared by run, start, install-service and config: one per row of the settings
    table (:mod:`.options`), plus the old name of --vcam-device, still read."""
    f = click.option("--device", "old_device", default=None, hidden=True, expose_value=True,
                     callback=_renamed_device)(f)
    return table_options(f)


def _renamed_device(ctx: click.Context, param: click.Parameter, value):
    """``--device`` was the virtual camera until compute devices took the name; still read, with a hint."""
    if value is not None:
        click.echo("warning: --device is now --vcam-device (the virtual camera); please use that", err=True)
    return value


def typed_settings(ctx: click.Context, params: dict) -> dict:
    """Only the settings the user typed (flags override the config file; defaults do not)."""
    out = {}
    old = params.pop("old_device", None)
    if old is not None and ctx.get_parameter_source("vcam_device") != ParameterSource.COMMANDLINE:
        out["vcam_device"] = old
    for name in SETTINGS:
        if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            value = params[name]
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
    return out


@cli.command("run")
@settings_options
@click.option("--frames", type=click.IntRange(min=1), default=None, help="Stop after publishing N frames.")
@click.option("--lockstep", is_flag=True,
              help="Publish every processed frame exactly once, as fast as it is made (offline recording of a file).")
@click.pass_context
def run_cmd(ctx, frames, lockstep, **params) -> None:
    """Run the daemon in the foreground (Ctrl-C stops it)."""
    stats = lifecycle.run(typed_settings(ctx, params), frames=frames, lockstep=lockstep,
                          on_ready=lambda info: click.echo(summary_text(info), err=True))
    click.echo(f"published {stats.frames_out} frames ({stats.frames_processed} processed)", err=True)


@cli.command("start")
@settings_options
@click.pass_context
def start_cmd(ctx, **params) -> None:
    """Start the daemon in the background; returns once frames are being published."""
    state = lifecycle.start(typed_settings(ctx, params))
    click.echo(status_text({"running": True, **state}).splitlines()[0].replace("is running", "started"))
    click.echo(f"  {summary_text(state)}")
    if state.get("panel_url"):
        click.echo(f"  control panel: {state['panel_url']}")


@cli.command("stop")
@click.option("--timeout", type=Finite(0.5, 60), default=5.0, show_default=True,
              help="Seconds to wait for a clean exit before killing it.")
def stop_cmd(timeout) -> None:
    """Stop the background daemon (SIGTERM, waits for a clean exit)."""
    pid = lifecycle.stop(timeout)
    click.echo("vcam-sharpen is not running" if pid is None else f"stopped (pid {pid})")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def status_cmd(as_json) -> None:
    """Running or not; source, model, mode, measured fps, per-stage ms, dropped frames, uptime.

    Exit code 0 when running, 3 when not (like systemctl is-active).
    """
    st = lifecycle.status()
    click.echo(json.dumps(st, indent=2) if as_json else status_text(st))
    if not st["running"]:
        sys.exit(3)


@cli.command("toggle")
def toggle_cmd() -> None:
    """Switch sharpening off or on in the running daemon (no restart)."""
    click.echo(f"sharpening {'on' if lifecycle.toggle() else 'off'}")


@cli.command("set")
@click.argument("name", metavar="NAME")
@click.argument("value", metavar="VALUE")
def set_cmd(name: str, value: str) -> None:
    """Change a running daemon without a restart: strength 0..1, sharpening on|off, split on|off,
    temporal auto|on|off, skip-static on|off, model NAME (as --model), mode 2x|upscale|same-size (--degrade 2, --upscale, --degrade 1).

    A model or mode change loads the new model in the background and swaps it in between two frames;
    the camera and the outputs keep running.
    """
    name = name.replace("-", "_")  # set skip-static off
    parsed = control.parse(name, value)
    if name in control.SWITCHES:
        click.echo(f"switching {name} to {value} (the camera keeps running)...", err=True)
    state = control.request({name: parsed})
    click.echo(set_text(name, state))


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def doctor_cmd(as_json) -> None:
    """Check camera access, v4l2loopback / OBS virtual camera and permissions; print exact fixes.

    Exit code 1 when something needs fixing.
    """
    items = doctor.checks()
    click.echo(json.dumps(doctor.as_dicts(items), indent=2) if as_json else checks_text(items))
    if any(c.ok is False for c in items):
        sys.exit(1)


@cli.command("list-devices")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_devices_cmd(as_json) -> None:
    """List cameras, virtual camera devices and virtual camera backends."""
    d = doctor.list_devices()
    click.echo(json.dumps(d, indent=2) if as_json else devices_text(d))


@cli.command("install-service")
@settings_options
@click.option("--path", "path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Unit file to write; default: $XDG_CONFIG_HOME/systemd/user/vcam-sharpen.service.")
@click.option("--force", is_flag=True, help="Replace an existing, different unit.")
@click.pass_context
def install_service_cmd(ctx, path, force, **params) -> None:
    """Write a systemd --user unit that runs the daemon with Restart=on-failure.

    Options given here are baked into the unit; the rest come from the config file.
    """
    written, outcome = install_from_overrides(typed_settings(ctx, params), path=path, force=force)
    click.echo(f"{outcome}: {written}")
    click.echo(next_steps(written))


@cli.command("config")
@settings_options
@click.pass_context
def config_cmd(ctx, **params) -> None:
    """Print the effective settings (defaults <- config file <- these flags) and where each comes from."""
    settings, origin = effective(typed_settings(ctx, params))
    click.echo(settings_text(settings.to_dict(), origin))
