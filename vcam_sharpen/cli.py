"""The ``vcam-sharpen`` command line: thin click wrappers, one library call each.

Library code raises :class:`UserError` for anything the user can fix; here it becomes
one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from .errors import UserError


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


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """vcam-sharpen: a virtual camera that sharpens your webcam with a tiny CNN."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


DATA_HELP = "Dataset folder (CIFAR-10 batches, or their parent); default: the per-user cache, downloaded if missing."


@cli.command("eval")
@click.option("--dataset", default="cifar10", show_default=True, metavar="cifar10|set5|DIR",
              help="CIFAR-10 test set, Set5, or any folder of images.")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), default=None, help=DATA_HELP)
@click.option("--models", "models", default="all", metavar="LIST",
              help="Comma-separated rows: bilinear, unsharp, and shipped weights by name; 'all' for every one.")
@click.option("--weights", "extra", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Also score this checkpoint file (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Score only the first N images.")
@click.option("--factor", type=click.IntRange(2, 4), default=2, help="Degradation factor.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--markdown", is_flag=True, help="Print the table as markdown (the README's).")
@click.option("--grid", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write a before/after PNG grid: degraded / each row / ground truth.")
def eval_cmd(dataset, data, models, extra, limit, factor, as_json, markdown, grid) -> None:
    """Score restorations with SSIM and PSNR (skimage, RGB in [0, 1])."""
    from .report import format_markdown, format_table, run_eval

    rows = run_eval(dataset=dataset, data=data, models=models, extra=list(extra), limit=limit,
                    factor=factor, grid=grid, progress=not as_json)
    click.echo(json.dumps(rows, indent=2) if as_json else format_markdown(rows) if markdown else format_table(rows))
    if grid is not None and not as_json:
        click.echo(f"grid written to {grid}")


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models_cmd(as_json: bool) -> None:
    """List registered models with parameters and GMAC per 1280x720 output frame."""
    from .report import format_models, model_rows

    rows = model_rows()
    click.echo(json.dumps(rows, indent=2) if as_json else format_models(rows))


def main() -> None:
    cli(prog_name="vcam-sharpen")


# Importing these registers their commands on `cli`.
from . import cli_daemon, cli_perf  # noqa: E402,F401
