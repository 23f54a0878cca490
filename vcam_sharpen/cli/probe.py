"""``vcam-sharpen probe``: read frames from a PipeWire camera node as an application would."""

from __future__ import annotations

import dataclasses
import json
import sys

import click

from ..io.pipewire_env import probe
from .app import cli
from .text import probe_text


@cli.command("probe")
@click.option("--node", default="vcam-sharpen", show_default=True, metavar="NAME",
              help="The PipeWire camera node to read (vcam-sharpen list-devices shows them).")
@click.option("--frames", type=click.IntRange(2, 100000), default=60, show_default=True, help="Frames to read.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=10.0, show_default=True,
              help="Seconds to wait for them.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def probe_cmd(node: str, frames: int, timeout: float, as_json: bool) -> None:
    """Read N frames from a PipeWire camera node (gst-launch-1.0 pipewiresrc) and print the size and rate it got.

    Exit code 1 when fewer frames than asked came within --timeout.
    """
    result = probe(node, frames, timeout)
    click.echo(json.dumps(dataclasses.asdict(result), indent=2) if as_json else probe_text(result, frames, timeout))
    if result.timed_out:
        sys.exit(1)
