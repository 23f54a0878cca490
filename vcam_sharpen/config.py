"""Daemon settings: built-in defaults <- ``config.toml`` <- command-line flags.

The config file is ``$XDG_CONFIG_HOME/vcam-sharpen/config.toml`` (``~/.config/...``)
and uses the long option names, e.g.::

    source = "/dev/video0"
    model = "student"
    size = "1280x720"
    fps = 30
    output = ["vcam", "preview"]

It is only ever read (never rewritten). A bad file or value is a one-line
:class:`UserError` naming the file and the key.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import UserError

ENGINES = ("auto", "onnxruntime", "torch")
APP = "vcam-sharpen"


def config_home() -> Path:
    """``$XDG_CONFIG_HOME`` or ``~/.config``."""
    env = os.environ.get("XDG_CONFIG_HOME")
    return Path(env) if env else Path.home() / ".config"


def config_path() -> Path:
    return config_home() / APP / "config.toml"


def runtime_dir() -> Path:
    """``$XDG_RUNTIME_DIR/vcam-sharpen`` (created, private): pid and state files live here."""
    env = os.environ.get("XDG_RUNTIME_DIR")
    if env and Path(env).is_dir():
        path = Path(env) / APP
    else:
        import tempfile

        uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
        path = Path(tempfile.gettempdir()) / f"{APP}-{uid}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``; a one-line error otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 1280x720")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 7680 and 16 <= h <= 4320):
        raise ValueError(f"size {text!r} out of range (16x16 to 7680x4320)")
    if w % 2 or h % 2:
        raise ValueError(f"size {text!r} must have even width and height (video formats need it)")
    return w, h


def _default_model() -> str:
    from .zoo import DEFAULT_MODEL

    return DEFAULT_MODEL


@dataclass
class Settings:
    """Everything ``run``/``start`` needs; field names are the long option names."""

    source: str = "auto"
    degrade: int = 2
    upscale: bool = False
    model: str = field(default_factory=_default_model)
    weights: str | None = None
    split: bool = False
    size: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    output: list[str] = field(default_factory=lambda: ["vcam"])
    device: str | None = None
    backend: str | None = None
    engine: str = "auto"
    pause_when_unused: bool = True

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


def _check(name: str, value):
    """Validate and normalise one setting; raises ValueError with a short reason."""
    if name in ("source", "model", "engine"):
        if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
            raise ValueError("must be a non-empty string")
        value = str(value).strip()
        if name == "engine" and value not in ENGINES:
            raise ValueError(f"must be one of {', '.join(ENGINES)}")
        if name == "model" and value != "none":
            from .models import list_models

            if value not in list_models():
                raise ValueError(f"unknown model {value!r}; choose from none, {', '.join(list_models())}")
        return value
    if name in ("weights", "device", "backend"):
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        return str(Path(value).expanduser()) if name == "weights" else value.strip()
    if name == "degrade":
        if isinstance(value, bool) or value not in (1, 2):
            raise ValueError("must be 1 or 2")
        return int(value)
    if name in ("upscale", "split", "pause_when_unused"):
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if name == "size":
        if isinstance(value, (list, tuple)) and len(value) == 2:
            value = f"{value[0]}x{value[1]}"
        return parse_size(value)
    if name == "fps":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 120:
            raise ValueError("must be a number from 1 to 120")
        return float(value)
    if name == "output":
        from .sinks import check_output

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
    import tomllib

    path = Path(path) if path is not None else config_path()
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"config file {path}: {e}; fix it or remove it") from None
    except OSError as e:
        raise UserError(f"config file {path}: cannot read it ({e.strerror})") from None
    known = {f.name for f in fields(Settings)}
    out = {}
    for key, value in raw.items():
        key_norm = key.replace("-", "_")
        if key_norm not in known:
            raise UserError(f"config file {path}: unknown key {key!r}; valid keys: {', '.join(sorted(known))}")
        try:
            out[key_norm] = _check(key_norm, value)
        except ValueError as e:
            raise UserError(f"config file {path}: key {key!r}: {e}") from None
    return out


def resolve(overrides: dict | None = None, path: Path | None = None) -> tuple[Settings, dict[str, str]]:
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
            setattr(settings, key, _check(key, value))
        except ValueError as e:
            raise UserError(f"--{key.replace('_', '-')} {value!r}: {e}") from None
        origin[key] = "flag"
    return settings, origin


def describe(overrides: dict | None = None) -> str:
    """The effective settings as TOML lines with their origin, for ``vcam-sharpen config``."""
    settings, origin = resolve(overrides)
    path = config_path()
    lines = [f"# config file: {path}" + ("" if path.is_file() else " (absent)"),
             f"# runtime dir: {runtime_dir()}"]
    for key, value in settings.to_dict().items():
        if value is None:
            lines.append(f"# {key} = (unset)")
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = f"{value:g}" if isinstance(value, float) else str(value)
        elif isinstance(value, list):
            text = "[" + ", ".join(f'"{v}"' for v in value) + "]"
        else:
            text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{key} = {text}  # {origin[key]}")
    return "\n".join(lines)


if sys.version_info < (3, 11):  # pragma: no cover - tomllib is stdlib from 3.11
    try:
        import tomli as _tomli

        sys.modules.setdefault("tomllib", _tomli)
    except ImportError:
        pass
