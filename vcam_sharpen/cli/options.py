"""Click options built from the settings table (:class:`vcam_sharpen.daemon.settings.Settings`).

``run``, ``start``, ``install-service`` and ``config`` take every setting as an option. Each
option's default, range, choices and help come from the setting's row, so they are written once:
a new setting is one field in the table and appears here without a line of CLI code.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..daemon.settings import Settings, table
from .app import Finite


def option_for(name: str, row: dict):
    """The click option decorator for one row of the settings table (see :func:`vcam_sharpen.daemon.settings.setting`)."""
    flag = "--" + name.replace("_", "-")
    default, lo, hi, choices = row["default"], row["lo"], row["hi"], row["choices"]
    kw = {"default": default, "show_default": True, "help": row["help"], "metavar": row["metavar"]}
    if isinstance(default, bool) and row["metavar"] == "on|off":  # --skip-static on|off, as the issue reads
        return click.option(flag, name, **{**kw, "type": click.Choice(["on", "off"]), "default": "on" if default
                                           else "off", "metavar": None}, callback=_on_off)
    if isinstance(default, bool):
        return click.option(f"{flag}/--no-{flag[2:]}", name, **{**kw, "metavar": None})
    if choices is not None and isinstance(default, int) and list(choices) == list(range(min(choices),
                                                                                         max(choices) + 1)):
        kw["type"] = click.IntRange(min(choices), max(choices))  # whole numbers in a row: "not in the range"
    elif choices is not None:
        kw["type"] = click.Choice([str(c) for c in choices])
        kw["default"] = str(default)
        kw["metavar"] = None
    elif isinstance(default, float):
        kw["type"] = Finite(lo, hi) if lo is not None else float  # nan and inf are no number in a range
    elif isinstance(default, int):
        kw["type"] = click.IntRange(lo, hi) if lo is not None else int
    elif isinstance(default, list):
        kw.update(multiple=True, default=tuple(default))
    elif isinstance(default, tuple):  # a size: WIDTHxHEIGHT
        kw["default"] = "x".join(map(str, default))
    elif row["path"]:
        kw["type"] = click.Path(path_type=Path, dir_okay=False)
    return click.option(flag, name, **kw)


def _on_off(ctx, param, value):
    """``on``/``off`` as the setting's boolean (a value from the config file passes as it is)."""
    return value if isinstance(value, bool) or value is None else value == "on"


def settings_options(f, settings_class=Settings):
    """Decorator: one option per setting, in the table's order, on a click command."""
    rows = table(settings_class)
    for name in reversed(list(rows)):
        f = option_for(name, rows[name])(f)
    return f
