"""Saving settings into the config file the user wrote, keeping everything else in it.

Only the lines of the keys being saved change (a key not in the file yet is added at the end of
its top-level part); every other key, comment, blank line and table stays as written. The new
text is checked before it is written (it parses, the saved keys read back as saved, every other
key reads back unchanged, every value is valid) and written atomically
(:func:`vcam_sharpen.core.files.atomic_write`), so a failed save leaves the old file as it was.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import fields
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..core.errors import UserError
from ..core.files import WriteError, atomic_write, existing_file
from ..core.paths import config_path
from .settings import RENAMED, Settings, check_value

HEADER = "# vcam-sharpen settings (vcam-sharpen config shows what is in effect)\n"
_VALUE = r'(?P<value>"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|[^#\n]*?)'


def toml_value(value) -> str:
    """A setting as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's


def set_keys(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``key = literal`` of ``values`` replaced in place (comment kept) or added."""
    lines = text.splitlines(keepends=True)
    end = next((i for i, ln in enumerate(lines) if re.match(r"\s*\[", ln)), len(lines))  # first table
    for key, literal in values.items():
        names = {key, key.replace("_", "-")}
        pattern = re.compile(r'^(?P<lead>\s*)(?P<key>"[^"]*"|\'[^\']*\'|[A-Za-z0-9_-]+)(?P<eq>\s*=\s*)' + _VALUE
                             + r'(?P<tail>\s*(?:#.*)?)(?P<nl>\r?\n?)$')
        for i in range(end):
            m = pattern.match(lines[i])
            if m and m.group("key").strip("\"'") in names:
                lines[i] = f"{m['lead']}{m['key']}{m['eq']}{literal}{m['tail']}{m['nl'] or chr(10)}"
                break
        else:
            if end and not lines[end - 1].endswith("\n"):
                lines[end - 1] += "\n"
            if not lines:
                lines.append(HEADER)
                end += 1
            lines.insert(end, f"{key} = {literal}\n")
            end += 1
    return "".join(lines)


def _norm(raw: dict) -> dict:
    return {RENAMED.get(k.replace("-", "_"), k.replace("-", "_")): v for k, v in raw.items()}


def save(values: dict, path: Path | None = None) -> Path:
    """Write ``values`` (setting name -> value) into the config file; returns the file.

    Raises:
        UserError: a bad value, or a file that does not parse or that this editor cannot change safely
            (nothing is written then); OSError: the folder is not writable or the disk is full (the old
            file is untouched).
    """
    path = Path(path) if path is not None else config_path()
    known = {f.name for f in fields(Settings)}
    checked = {}
    for key, value in values.items():
        if key not in known:
            raise UserError(f"unknown setting {key!r}")
        try:
            checked[key] = check_value(key, value)
        except ValueError as e:
            raise UserError(f"{key}: {e}") from None
    literals = {k: toml_value(f"{v[0]}x{v[1]}" if k == "size" else v) for k, v in checked.items()}
    try:
        text = path.read_text(encoding="utf-8") if existing_file(path, "config file") else ""
        before = _norm(tomllib.loads(text))
    except RecursionError:
        raise UserError(f"config file {path} nests too deep to be settings; fix it by hand first: nothing was "
                        "saved") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"config file {path} does not parse ({e}); fix it by hand first: nothing was saved") \
            from None
    new = set_keys(text, literals)
    try:
        after = _norm(tomllib.loads(new))
    except tomllib.TOMLDecodeError:
        after = None
    kept = {k: v for k, v in before.items() if k not in checked}
    ok = after is not None and set(checked) <= set(after) and \
        {k: v for k, v in after.items() if k not in checked} == kept
    try:
        ok = ok and all(check_value(k, after[k]) == v for k, v in checked.items())
    except ValueError:
        ok = False
    if not ok:
        raise UserError(f"config file {path}: cannot change {', '.join(checked)} safely (a value spread over several "
                        "lines?); edit the file by hand: nothing was saved")
    for key, value in after.items():
        if key in known:
            try:
                check_value(key, value)
            except ValueError as e:
                raise UserError(f"config file {path}: key {key!r}: {e}; fix it first: nothing was saved") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(e.errno, e.strerror or str(e), f"config file {path}: cannot create its folder "
                                                        f"({e.strerror}); nothing was saved") from None
    return atomic_write(path, new)
