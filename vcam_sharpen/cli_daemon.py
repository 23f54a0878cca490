"""Daemon commands (start, run, stop, status, toggle, doctor, list-devices, install-service, config)."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

import click
from click.core import ParameterSource

from .cli import cli  # noqa: F401  (commands below register on this group)
from .config import ENGINES, Settings
from .zoo import DEFAULT_MODEL

SETTINGS = tuple(f.name for f in fields(Settings))  # every setting is also an option


def settings_options(f):
    """The pipeline options shared by run, start, install-service and config."""
    options = [
        click.option("--source", default="auto", show_default=True, metavar="0|/dev/videoN|FILE|demo",
                     help="Camera index or device, a video file (looped), or the built-in demo scene; "
                          "auto: the first camera, else demo."),
        click.option("--degrade", type=click.IntRange(1, 2), default=2, show_default=True,
                     help="2: simulate the bad link (downscale by 2) and restore; 1: sharpen the frame as it is."),
        click.option("--upscale/--no-upscale", default=False, show_default=True,
                     help="Treat the camera frame as the small one and output twice its size."),
        click.option("--model", default=DEFAULT_MODEL, show_default=True, metavar="NAME|none",
                     help="Sharpening model (see vcam-sharpen models); none: degraded picture only."),
        click.option("--weights", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="Checkpoint file; default: the shipped weights of --model."),
        click.option("--split/--no-split", default=False, show_default=True,
                     help="Left half before, right half after (for judging the effect)."),
        click.option("--size", default="1280x720", show_default=True, metavar="WxH",
                     help="Output size (the camera is asked for it too)."),
        click.option("--fps", type=click.FloatRange(1, 120), default=30.0, show_default=True,
                     help="Frames per second published to the outputs."),
        click.option("--output", "output", multiple=True, default=("vcam",), show_default=True,
                     metavar="vcam|preview|null|FILE.mp4",
                     help="Where frames go (repeatable): virtual camera, window, nowhere, or a recording."),
        click.option("--device", default=None, metavar="/dev/videoN|NAME",
                     help="Virtual camera device (default: the first loopback device / OBS Virtual Camera)."),
        click.option("--backend", default=None, metavar="v4l2loopback|obs|unitycapture",
                     help="pyvirtualcam backend (default: the first that works)."),
        click.option("--engine", type=click.Choice(ENGINES), default="auto",
                     show_default=True, help="Inference engine."),
        click.option("--pause-when-unused/--no-pause-when-unused", default=True, show_default=True,
                     help="Close the camera and idle the model while no app reads the virtual camera "
                          "(needs v4l2loopback 0.13+; elsewhere it stays on)."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def typed_settings(ctx: click.Context, params: dict) -> dict:
    """Only the settings the user typed (flags override the config file; defaults do not)."""
    out = {}
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
    from .daemon import run

    stats = run(typed_settings(ctx, params), frames=frames, lockstep=lockstep)
    click.echo(f"published {stats.frames_out} frames ({stats.frames_processed} processed)", err=True)


@cli.command("start")
@settings_options
@click.pass_context
def start_cmd(ctx, **params) -> None:
    """Start the daemon in the background; returns once frames are being published."""
    from .daemon import format_status, start

    state = start(typed_settings(ctx, params))
    click.echo(format_status({"running": True, **state}).splitlines()[0].replace("is running", "started"))
    click.echo(f"  {state.get('source_name', '')} -> {state.get('model')} -> {', '.join(state.get('outputs', []))}"
               + (f" on {state['device']}" if state.get("device") else ""))


@cli.command("stop")
@click.option("--timeout", type=click.FloatRange(0.5, 60), default=5.0, show_default=True,
              help="Seconds to wait for a clean exit before killing it.")
def stop_cmd(timeout) -> None:
    """Stop the background daemon (SIGTERM, waits for a clean exit)."""
    from .daemon import stop

    pid = stop(timeout)
    click.echo("vcam-sharpen is not running" if pid is None else f"stopped (pid {pid})")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def status_cmd(as_json) -> None:
    """Running or not; source, model, mode, measured fps, per-stage ms, dropped frames, uptime.

    Exit code 0 when running, 3 when not (like systemctl is-active).
    """
    from .daemon import format_status, status

    st = status()
    click.echo(json.dumps(st, indent=2) if as_json else format_status(st))
    if not st["running"]:
        sys.exit(3)


@cli.command("toggle")
def toggle_cmd() -> None:
    """Switch sharpening off or on in the running daemon (no restart)."""
    from .daemon import toggle

    click.echo(f"sharpening {'on' if toggle() else 'off'}")


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def doctor_cmd(as_json) -> None:
    """Check camera access, v4l2loopback / OBS virtual camera and permissions; print exact fixes.

    Exit code 1 when something needs fixing.
    """
    from .doctor import as_dicts, checks, format_checks

    items = checks()
    click.echo(json.dumps(as_dicts(items), indent=2) if as_json else format_checks(items))
    if any(c.ok is False for c in items):
        sys.exit(1)


@cli.command("list-devices")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_devices_cmd(as_json) -> None:
    """List cameras, virtual camera devices and virtual camera backends."""
    from .doctor import format_devices, list_devices

    d = list_devices()
    click.echo(json.dumps(d, indent=2) if as_json else format_devices(d))


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
    from .service import install_from_overrides, next_steps

    written, outcome = install_from_overrides(typed_settings(ctx, params), path=path, force=force)
    click.echo(f"{outcome}: {written}")
    click.echo(next_steps(written))


@cli.command("config")
@settings_options
@click.pass_context
def config_cmd(ctx, **params) -> None:
    """Print the effective settings (defaults <- config file <- these flags) and where each comes from."""
    from .config import describe

    click.echo(describe(typed_settings(ctx, params)))
