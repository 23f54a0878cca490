"""The click group every command registers on, and the one place errors become one line and exit 2."""

from __future__ import annotations

import logging
import math
import sys

import click

from ..core.errors import UserError
from ..core.files import check_output, check_writable


class Group(click.Group):
    """Turns :class:`UserError`, bad options (click's usage block) and Ctrl-C into one line and a non-zero exit."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as e:
            _fail(f"{e.format_message()} (see {info_name} --help)")

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:  # a subcommand's options are parsed in here
            command = f"{ctx.command_path} {ctx.invoked_subcommand or ''}".strip()
            _fail(f"{e.format_message()} (see {command} --help)")
        except UserError as e:
            _fail(str(e))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


# daemon.log and -v: when, how bad, where from, what
LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"
LOG_DATE = "%Y-%m-%d %H:%M:%S"


class Finite(click.FloatRange):
    """``click.FloatRange`` that also refuses nan and inf (which compare False with both bounds and so
    would pass a plain range)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!s} is not a finite number in the range {self._describe_range()}", param, ctx)
        return number


def output_file(ctx, param, value):
    """Click callback of every option that names a file to write: refused at parse time, before any
    work, when it is a device, FIFO, socket or folder (see :func:`vcam_sharpen.core.files.check_output`)."""
    if value is not None:
        what = param.opts[0] if param.param_type_name == "option" else ""
        check_output(value, what)
        check_writable(value, what)
    return value


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """vcam-sharpen: a virtual camera that sharpens your webcam with a tiny CNN."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format=LOG_FORMAT, datefmt=LOG_DATE)
