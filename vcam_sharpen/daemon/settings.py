"""Daemon settings: built-in defaults <- ``config.toml`` <- command-line flags.

The config file is ``$XDG_CONFIG_HOME/vcam-sharpen/config.toml`` (``~/.config/...``)
and uses the long option names, e.g.::

    source = "/dev/video0"
    model = "student"
    size = "1280x720"
    fps = 30
    output = ["vcam", "preview"]

The daemon only reads it; the control panel's Save rewrites the keys it saves and keeps the rest
(:mod:`vcam_sharpen.daemon.config_edit`). A bad file or value is a one-line
:class:`UserError` naming the file and the key.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - tomllib is stdlib from 3.11; tomli is the same parser
    import tomli as tomllib

from ..core import loader
from ..core.errors import UserError
from ..core.files import existing_file
from ..frames.temporal import MODES as TEMPORAL_MODES
from ..core.paths import config_path
from ..io.outputs import check_output
from ..runtime.engines import ENGINES
from ..runtime.tuning import CPU_BUDGET

log = logging.getLogger(__name__)

# Settings renamed since they were first published: old name -> new name (still read, with a warning).
RENAMED = {"device": "vcam_device"}
MAX_CONFIG_BYTES = 256 * 1024  # a settings file is a few lines; anything far larger is not one


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``; a one-line error otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT: give one like 1280x720")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 7680 and 16 <= h <= 4320):
        raise ValueError(f"size {text!r} is out of range: use 16x16 to 7680x4320")
    if w % 2 or h % 2:
        raise ValueError(f"size {text!r}: use an even width and height (video formats need it), e.g. 1280x720")
    return w, h


def setting(default, help: str, *, lo=None, hi=None, choices=None, metavar=None, path: bool = False):
    """One row of the settings table: the default, what it does (the options' help), its range or choices.

    The :class:`Settings` fields are the table: ``check_value`` enforces the ranges and choices, and the
    command line builds its options from the same rows (:mod:`vcam_sharpen.cli.options`), so a setting's
    default and range are written once. A new setting is one field, e.g.
    ``temporal: str = setting("auto", "...", choices=("auto", "on", "off"))``.

    Args:
        default: the built-in value (a list is copied for each :class:`Settings`).
        help: one sentence or two for ``--help``.
        lo, hi: inclusive range of a number.
        choices: the only values allowed.
        metavar: how ``--help`` shows the value.
        path: the value is a file name (``~`` expanded).
    """
    meta = {"help": help, "lo": lo, "hi": hi, "choices": choices, "metavar": metavar, "path": path}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Settings:
    """Everything ``run``/``start`` needs; field names are the long option names, and each field is one row
    of the settings table (:func:`setting`)."""

    source: str = setting("auto", "Camera index or device, a video file (looped), or the built-in demo scene; "
                                  "auto: the first camera, else demo.", metavar="0|/dev/videoN|FILE|demo")
    degrade: int = setting(2, "2: simulate the bad link (downscale by 2) and restore; 1: sharpen the frame as "
                              "it is.", choices=(1, 2))
    upscale: bool = setting(False, "Treat the camera frame as the small one and output twice its size.")
    # auto is measured at start: the best shipped student that fits cpu_budget (loader.resolve), then kept
    model: str = setting(loader.AUTO, f"Sharpening model: a name from vcam-sharpen models, a shipped weight tag "
                         f"(student-nokd, ...), unsharp, or a .pt file; none: degraded picture only; auto: the best "
                         f"shipped student that fits --cpu-budget at this size and rate (measured at start, then kept: "
                         f"it steps down and back up the ladder in vcam-sharpen models while running; with "
                         f"--weights: the checkpoint's own model); default: {loader.DEFAULT_MODEL}, or "
                         f"{loader.ENHANCE_MODEL} with --degrade 1.", metavar="NAME|FILE.pt|none")
    weights: str | None = setting(None, "Checkpoint file; default: the shipped weights of --model.", path=True,
                                  metavar="FILE.pt")
    split: bool = setting(False, "Left half before, right half after (for judging the effect).")
    size: tuple[int, int] = setting((1280, 720), "Output size (the camera is asked for it too).", metavar="WxH")
    fps: float = setting(30.0, "Frames per second published to the outputs.", lo=1, hi=120)
    output: list[str] = setting(["vcam"], "Where frames go (repeatable): virtual camera, PipeWire camera node, "
                                "window, nowhere, or a recording.", metavar="vcam|pipewire|preview|null|FILE.mp4")
    vcam_device: str | None = setting(None, "Virtual camera device (default: the first loopback device / OBS "
                                            "Virtual Camera).", metavar="/dev/videoN|NAME")
    backend: str | None = setting(None, "pyvirtualcam backend (default: the first that works).",
                                  metavar="v4l2loopback|obs|unitycapture")
    engine: str = setting("auto", "Inference engine.", choices=tuple(ENGINES))
    pause_when_unused: bool = setting(True, "Close the camera and idle the model while no app reads the virtual "
                                            "camera (needs v4l2loopback 0.13+; elsewhere it stays on).")
    strength: float = setting(1.0, "0..1: output = plain + strength x the model's correction (0: unsharpened); "
                                   "change it while running with: vcam-sharpen set strength 0.6", lo=0, hi=1)
    # the temporal stage before the model (frames.temporal): auto turns it on only while the noise warrants it
    temporal: str = setting("auto", "Temporal noise reduction before the model (a motion-adaptive recursive "
                                    "filter): auto turns it on only while the estimated camera noise warrants it; "
                                    "change it while running with: vcam-sharpen set temporal on",
                            choices=TEMPORAL_MODES)
    skip_static: bool = setting(True, "Restore only the regions whose picture changed and reuse the last output "
                                      "elsewhere (every region is refreshed at least once a second); change it "
                                      "while running with: vcam-sharpen set skip-static off", metavar="on|off")
    cpu_budget: float = setting(CPU_BUDGET, "With --model auto: the most CPU cores the daemon may use at --fps (checked at start "
                                "and while running; it also steps down while other programs leave the machine no "
                                "idle core).",
                                lo=0.05, hi=64)
    # serve the control panel (vcam_sharpen.web) while running
    panel: bool = setting(False, "Serve the control panel (a web page on this computer: preview, settings, "
                                 "status); vcam-sharpen panel opens it.")
    panel_port: int = setting(8717, "The panel's port (0: any free port).", lo=0, hi=65535)
    panel_host: str = setting("127.0.0.1", "The address the panel listens on; anything but loopback lets others "
                                           "on the network control the camera.", metavar="ADDRESS")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = f"{self.size[0]}x{self.size[1]}"
        return d

    def to_args(self) -> list[str]:
        """The ``run`` options that reproduce these settings exactly (config file not needed)."""
        return settings_args(asdict(self))


def settings_args(values: dict) -> list[str]:
    """Command-line options for a dict of (validated) settings, e.g. ``{"fps": 30.0}`` -> ``["--fps", "30"]``."""
    args: list[str] = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if name == "skip_static":  # an on|off option, like `vcam-sharpen set skip-static off`
            args += [flag, "on" if value else "off"]
        elif isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif name == "size":
            args += [flag, value if isinstance(value, str) else f"{value[0]}x{value[1]}"]
        elif name == "output":
            for out in ([value] if isinstance(value, str) else value):
                args += [flag, str(out)]
        elif isinstance(value, float):
            args += [flag, f"{value:g}"]
        else:
            args += [flag, str(value)]
    return args


def table(settings_class: type = Settings) -> dict[str, dict]:
    """The settings table: name -> ``{"default", "help", "lo", "hi", "choices", "metavar", "path"}``."""
    defaults, blank = settings_class(), {"help": None, "lo": None, "hi": None, "choices": None, "metavar": None,
                                         "path": False}
    return {f.name: {**blank, **f.metadata, "default": getattr(defaults, f.name)} for f in fields(settings_class)}


ROWS = table()


def _range_text(name: str, row: dict) -> str:
    if name == "panel_port":
        return "must be a port number from 1 to 65535 (0: any free port)"
    if row["lo"] is None:
        return "must be a number"
    return f"must be {'a number of cores' if name == 'cpu_budget' else 'a number'} from {row['lo']:g} to {row['hi']:g}"


def check_value(name: str, value):
    """Validate and normalise one setting (flags, the config file, the panel's Save); raises ValueError
    with a short reason."""
    row = ROWS.get(name)
    if row is None:
        raise ValueError("unknown setting")
    default = row["default"]
    if name in ("source", "model", "engine"):
        if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
            raise ValueError("must be a non-empty string")
        value = str(value).strip()
        if name == "model":
            try:
                loader.check(value)
            except UserError as e:
                raise ValueError(str(e)) from None
    elif name == "panel_host":
        try:
            addr = ipaddress.ip_address("127.0.0.1" if value == "localhost" else str(value).strip())
        except ValueError:
            raise ValueError("must be an IP address, e.g. 127.0.0.1") from None
        if addr.is_unspecified:
            raise ValueError("name one interface's address, not every interface")
        return str(addr)
    elif name == "size":
        if isinstance(value, (list, tuple)) and len(value) == 2:
            value = f"{value[0]}x{value[1]}"
        return parse_size(value)
    elif name == "output":
        outs = [value] if isinstance(value, str) else value
        if not isinstance(outs, (list, tuple)) or not outs or not all(isinstance(o, str) for o in outs):
            raise ValueError('must be a name or a list of names, e.g. ["vcam", "preview"]')
        try:
            return [check_output(o) for o in outs]
        except UserError as e:
            raise ValueError(str(e).split(": ", 1)[-1]) from None
    elif isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
    elif isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(_range_text(name, row))
        if isinstance(default, int) and value != int(value):
            raise ValueError(f"must be a whole number ({_range_text(name, row)[5:]})")
        value = type(default)(value)
    elif default is None or isinstance(default, str):  # optional strings: names, devices, files
        if value is None and default is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        value = str(Path(value).expanduser()) if row["path"] else value.strip()
    if row["choices"] is not None and value not in row["choices"]:
        raise ValueError(f"must be {' or '.join(map(str, row['choices']))}" if len(row["choices"]) == 2
                         else f"must be one of {', '.join(map(str, row['choices']))}")
    if row["lo"] is not None and not row["lo"] <= value <= row["hi"]:
        raise ValueError(_range_text(name, row))
    return value


def read_config(path: Path | None = None) -> dict:
    """The validated settings in the config file (``{}`` when there is none)."""
    path = Path(path) if path is not None else config_path()
    if not existing_file(path, "config file"):
        return {}
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise UserError(f"config file {path} is over {MAX_CONFIG_BYTES // 1024} KiB; a settings file is a "
                            f"few lines: fix it or remove it")
        raw = tomllib.loads(data.decode("utf-8"))
    except RecursionError:
        raise UserError(f"config file {path} nests too deep to be settings; fix it or remove it") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"config file {path}: {e}; fix it or remove it") from None
    except UnicodeDecodeError as e:
        raise UserError(f"config file {path} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset "
                        f"{e.start}); save it as UTF-8") from None
    except OSError as e:
        raise UserError(f"config file {path}: cannot read it ({e.strerror})") from None
    known = {f.name for f in fields(Settings)}
    out = {}
    for key, value in raw.items():
        key_norm = key.replace("-", "_")
        if key_norm in RENAMED:
            log.warning("config file %s: key %r is now %r; rename it", path, key, RENAMED[key_norm])
            key_norm = RENAMED[key_norm]
        if key_norm not in known:
            raise UserError(f"config file {path}: unknown key {key!r}; rename or remove it "
                            f"(valid keys: {', '.join(sorted(known))})")
        try:
            out[key_norm] = check_value(key_norm, value)
        except ValueError as e:
            raise UserError(f"config file {path}: key {key!r}: {e}") from None
    return out


def effective(overrides: dict | None = None, path: Path | None = None) -> tuple[Settings, dict[str, str]]:
    """Effective settings and where each came from (``default``, ``config`` or ``flag``).

    Args:
        overrides: settings given on the command line (only those the user typed).
        path: config file; default :func:`config_path`.
    """
    settings, origin = Settings(), {f.name: "default" for f in fields(Settings)}
    for key, value in read_config(path).items():
        setattr(settings, key, value)
        origin[key] = "config"
    for key, value in (overrides or {}).items():
        try:
            setattr(settings, key, check_value(key, value))
        except ValueError as e:
            shown = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
            raise UserError(f"--{key.replace('_', '-')} {shown}: {e}") from None
        origin[key] = "flag"
    return settings, origin
