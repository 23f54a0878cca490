"""Daemon commands (start, run, stop, status, toggle, doctor, list-devices, install-service, config)."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

import click
from click.core import ParameterSource

from ..core.loader import AUTO, DEFAULT_MODEL, ENHANCE_MODEL
from ..daemon import control, lifecycle
from ..daemon.service import install_from_overrides, next_steps
from ..daemon.settings import Settings, effective
from ..runtime.engines import ENGINES
from ..tools import doctor
from .app import cli
from .text import checks_text, devices_text, settings_text, status_text

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
        click.option("--model", default=AUTO, show_default=True, metavar="NAME|FILE.pt|none",
                     help=f"Sharpening model: a name from vcam-sharpen models, a shipped weight tag "
                          f"(student-nokd, ...), unsharp, or a .pt file; none: degraded picture only; auto: the "
                          f"best shipped student that fits --cpu-budget at this size and rate (measured at "
                          f"start; with --weights: the checkpoint's own model); default: {DEFAULT_MODEL}, or "
                          f"{ENHANCE_MODEL} with --degrade 1."),
        click.option("--weights", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="Checkpoint file; default: the shipped weights of --model."),
        click.option("--cpu-budget", "cpu_budget", type=click.FloatRange(0.05, 64), default=0.75,
                     show_default=True, help="With --model auto: the most CPU cores the model may use at --fps."),
        click.option("--strength", type=click.FloatRange(0, 1), default=1.0, show_default=True,
                     help="0..1: output = plain + strength x the model's correction (0: unsharpened); "
                          "change it while running with: vcam-sharpen set strength 0.6"),
        click.option("--temporal", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
                     help="Temporal noise reduction before the model (a motion-adaptive recursive filter): auto "
                          "turns it on only while the estimated camera noise warrants it; change it while running "
                          "with: vcam-sharpen set temporal on"),
        click.option("--split/--no-split", default=False, show_default=True,
                     help="Left half before, right half after (for judging the effect)."),
        click.option("--size", default="1280x720", show_default=True, metavar="WxH",
                     help="Output size (the camera is asked for it too)."),
        click.option("--fps", type=click.FloatRange(1, 120), default=30.0, show_default=True,
                     help="Frames per second published to the outputs."),
        click.option("--output", "output", multiple=True, default=("vcam",), show_default=True,
                     metavar="vcam|preview|null|FILE.mp4",
                     help="Where frames go (repeatable): virtual camera, window, nowhere, or a recording."),
        click.option("--vcam-device", "vcam_device", default=None, metavar="/dev/videoN|NAME",
                     help="Virtual camera device (default: the first loopback device / OBS Virtual Camera)."),
        click.option("--device", "old_device", default=None, hidden=True, expose_value=True,
                     callback=_renamed_device),
        click.option("--backend", default=None, metavar="v4l2loopback|obs|unitycapture",
                     help="pyvirtualcam backend (default: the first that works)."),
        click.option("--engine", type=click.Choice(ENGINES), default="auto",
                     show_default=True, help="Inference engine."),
        click.option("--pause-when-unused/--no-pause-when-unused", default=True, show_default=True,
                     help="Close the camera and idle the model while no app reads the virtual camera "
                          "(needs v4l2loopback 0.13+; elsewhere it stays on)."),
        click.option("--panel/--no-panel", default=False, show_default=True,
                     help="Serve the control panel (a web page on this computer: preview, settings, status); "
                          "vcam-sharpen panel opens it."),
        click.option("--panel-port", "panel_port", type=click.IntRange(0, 65535), default=8717, show_default=True,
                     help="The panel's port (0: any free port)."),
        click.option("--panel-host", "panel_host", default="127.0.0.1", show_default=True, metavar="ADDRESS",
                     help="The address the panel listens on; anything but loopback lets others on the network "
                          "control the camera."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


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
    stats = lifecycle.run(typed_settings(ctx, params), frames=frames, lockstep=lockstep)
    click.echo(f"published {stats.frames_out} frames ({stats.frames_processed} processed)", err=True)


@cli.command("start")
@settings_options
@click.pass_context
def start_cmd(ctx, **params) -> None:
    """Start the daemon in the background; returns once frames are being published."""
    state = lifecycle.start(typed_settings(ctx, params))
    click.echo(status_text({"running": True, **state}).splitlines()[0].replace("is running", "started"))
    click.echo(f"  {state.get('source_name', '')} -> {state.get('model')} -> {', '.join(state.get('outputs', []))}"
               + (f" on {state['device']}" if state.get("device") else ""))
    if state.get("panel_url"):
        click.echo(f"  control panel: {state['panel_url']}")


@cli.command("stop")
@click.option("--timeout", type=click.FloatRange(0.5, 60), default=5.0, show_default=True,
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
    temporal auto|on|off."""
    state = control.request({name: control.parse(name, value)})
    click.echo(f"{name} = {state.get(name)}")


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
