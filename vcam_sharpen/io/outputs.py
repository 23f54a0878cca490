"""The one registry of outputs: an ``--output`` value becomes a :class:`~vcam_sharpen.io.sinks.Sink`.

``--output`` values: ``vcam`` (pyvirtualcam: v4l2loopback on Linux, the OBS virtual camera
on Windows/macOS), ``pipewire`` (a PipeWire camera node, :mod:`vcam_sharpen.io.pipewire`), ``preview`` (an OpenCV window; q or Esc quits), ``null`` (discard; for
tests and benchmarks) or a recording, a file name ending in one of
:data:`~vcam_sharpen.io.recording.FORMATS` (crash-safe: see :mod:`vcam_sharpen.io.recording`).
The same table validates settings (:func:`check_output`) and opens outputs (:func:`open_sinks`),
so a value that passes validation always names an output that exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import UserError, one_line
from .pipewire import PipewireSink
from .recording import FORMATS, RecordingSink
from .sinks import NullSink, PreviewSink, Sink
from .vcam import VcamSink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkOptions:
    """What opening an output may need; each kind takes what it uses."""

    size: tuple[int, int]
    fps: float
    vcam_device: str | None = None  # virtual camera device, e.g. /dev/video10
    backend: str | None = None  # pyvirtualcam backend
    watch_usage: bool = False  # count the apps reading it, so the daemon can pause while there are none


# name -> (factory, one-line help); a recording is matched by its file suffix instead.
OUTPUTS: dict[str, tuple[Callable[[SinkOptions], Sink], str]] = {
    "vcam": (lambda o: VcamSink(o.size, o.fps, o.vcam_device, o.backend, o.watch_usage),
             "the virtual camera (v4l2loopback / OBS)"),
    "pipewire": (lambda o: PipewireSink(o.size, o.fps, watch_usage=o.watch_usage),
                 "a PipeWire camera node (Linux; browsers through the camera portal, no kernel module)"),
    "preview": (lambda o: PreviewSink(o.size), "a window on this desktop (q quits)"),
    "null": (lambda o: NullSink(o.size), "nowhere (tests, benchmarks)"),
}


def _choices() -> str:
    return ", ".join(OUTPUTS) + ", or a " + "/".join(FORMATS) + " file"


def check_output(spec: str) -> str:
    """Validate an ``--output`` value without opening anything; returns it stripped."""
    spec = str(spec).strip()
    if spec in OUTPUTS or Path(spec).suffix.lower() in FORMATS:
        return spec
    raise UserError(f"--output {spec!r}: not a known output; use {_choices()}")


def open_sink(spec: str, options: SinkOptions) -> Sink:
    """One output from a (validated) ``--output`` value."""
    spec = check_output(spec)
    if spec in OUTPUTS:
        return OUTPUTS[spec][0](options)
    return RecordingSink(Path(spec).expanduser(), options.size, options.fps)


def open_sinks(specs: list[str], options: SinkOptions) -> list[Sink]:
    """Open every ``--output`` once, in order; if one fails, the ones already open are closed again."""
    sinks: list[Sink] = []
    try:
        for spec in dict.fromkeys(specs):
            sinks.append(open_sink(spec, options))
    except BaseException:
        close_sinks(sinks)
        raise
    return sinks


def close_sinks(sinks: list[Sink]) -> None:
    """Close every sink, even if one fails (logged)."""
    for s in sinks:
        try:
            s.close()
        except Exception as e:  # noqa: BLE001 - closing must go on
            log.warning("closing %s failed: %s", s.name, one_line(e))


def sink_target(sink: Sink) -> dict:
    """What an open output writes to, for the start summary: its name, device or node, and file (absolute)."""
    path = getattr(sink, "path", None)
    return {"name": sink.name, "device": sink.device, "path": str(Path(path).absolute()) if path is not None else None}
