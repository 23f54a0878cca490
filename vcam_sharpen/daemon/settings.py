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
from ..frames.temporal import check_mode as check_temporal
from ..core.paths import config_path
from ..io.outputs import check_output
from ..runtime.engines import ENGINES
from ..runtime.tuning import CPU_BUDGET

log = logging.getLogger(__name__)

# Settings renamed since they were first published: old name -> new name (still read, with a warning).
RENAMED = {"device": "vcam_device"}


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


@dataclass
class Settings:
    """Everything ``run``/``start`` needs; field names are the long option names."""

    source: str = "auto"
    degrade: int = 2
    upscale: bool = False
    model: str = loader.AUTO  # measured at start: the best shipped student that fits cpu_budget (tuning.resolve_auto)
    weights: str | None = None
    split: bool = False
    size: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    output: list[str] = field(default_factory=lambda: ["vcam"])
    vcam_device: str | None = None
    backend: str | None = None
    engine: str = "auto"
    pause_when_unused: bool = True
    strength: float = 1.0
    temporal: str = "auto"  # the temporal stage: on only when the noise estimate warrants it
    cpu_budget: float = CPU_BUDGET
    panel: bool = False  # serve the control panel (vcam_sharpen.web) while running
    panel_port: int = 8717
    panel_host: str = "127.0.0.1"

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
        if isinstance(value, bool):
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


# Settings that are plain numbers: name -> (lowest, highest, what the message calls it).
NUMBERS = {"fps": (1, 120, "a number"), "strength": (0, 1, "a number"), "cpu_budget": (0.05, 64, "a number of cores")}


def check_value(name: str, value):
    """Validate and normalise one setting (flags, the config file, the panel's Save); raises ValueError
    with a short reason."""
    if name in ("source", "model", "engine"):
        if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
            raise ValueError("must be a non-empty string")
        value = str(value).strip()
        if name == "engine" and value not in ENGINES:
            raise ValueError(f"must be one of {', '.join(ENGINES)}")
        if name == "model":
            try:
                loader.check(value)
            except UserError as e:
                raise ValueError(str(e)) from None
        return value
    if name == "temporal":
        try:
            return check_temporal(value)
        except ValueError:
            raise ValueError("must be one of auto, on, off") from None
    if name in ("weights", "vcam_device", "backend"):
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        return str(Path(value).expanduser()) if name == "weights" else value.strip()
    if name == "degrade":
        if isinstance(value, bool) or value not in (1, 2):
            raise ValueError("must be 1 or 2")
        return int(value)
    if name == "panel_port":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise ValueError("must be a port number from 1 to 65535 (0: any free port)")
        return int(value)
    if name == "panel_host":
        try:
            addr = ipaddress.ip_address("127.0.0.1" if value == "localhost" else str(value).strip())
        except ValueError:
            raise ValueError("must be an IP address, e.g. 127.0.0.1") from None
        if addr.is_unspecified:
            raise ValueError("name one interface's address, not every interface")
        return str(addr)
    if name in ("upscale", "split", "pause_when_unused", "panel"):
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if name == "size":
        if isinstance(value, (list, tuple)) and len(value) == 2:
            value = f"{value[0]}x{value[1]}"
        return parse_size(value)
    if name in NUMBERS:
        lo, hi, what = NUMBERS[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise ValueError(f"must be {what} from {lo:g} to {hi:g}")
        return float(value)
    if name == "output":
        outs = [value] if isinstance(value, str) else value
        if not isinstance(outs, (list, tuple)) or not outs or not all(isinstance(o, str) for o in outs):
            raise ValueError('must be a name or a list of names, e.g. ["vcam", "preview"]')
        try:
            return [check_output(o) for o in outs]
        except UserError as e:
            raise ValueError(str(e).split(": ", 1)[-1]) from None
    raise ValueError("unknown setting")


def read_config(path: Path | None = None) -> dict:
    """The validated settings in the config file (``{}`` when there is none)."""
    path = Path(path) if path is not None else config_path()
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
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
