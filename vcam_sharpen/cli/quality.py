"""Quality commands: ``eval`` and ``models``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..quality.report import conditions, grid_path, model_rows, run_eval
from .app import cli
from .text import eval_markdown, eval_table, models_table


DATA_HELP = "Dataset folder (CIFAR-10 batches, or their parent); default: the per-user cache, downloaded if missing."


@cli.command("eval")
@click.option("--dataset", default="cifar10", show_default=True, metavar="cifar10|set5|DIR",
              help="CIFAR-10 test set, Set5, or any folder of images.")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), default=None, help=DATA_HELP)
@click.option("--models", "models", default="all", metavar="LIST",
              help="Comma-separated rows: bilinear, unsharp, shipped weights or model names (see vcam-sharpen "
                   "models), .pt files; 'all': the baselines and every shipped file.")
@click.option("--weights", "extra", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Also score this checkpoint file (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Score only the first N images.")
@click.option("--factor", type=click.IntRange(2, 4), default=2, help="Degradation factor.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--markdown", is_flag=True, help="Print the table as markdown (the README's).")
@click.option("--grid", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write a before/after PNG grid: degraded / each row / ground truth. With --corrupt, one grid "
                   "per condition, named after it: --grid g.png --corrupt jpeg:50 writes g-jpeg_50.png.")
@click.option("--corrupt", "corrupt", multiple=True, metavar="SPEC",
              help="Score under a webcam condition (repeatable; one table block per condition, each headed by "
                   "its condition): clean, noise:SIGMA, pg:A,B, jpeg:Q, h264:CRF, blur:SIGMA, camera, or terms "
                   "joined with '+' (blur:0.8+noise:3+jpeg:70); values in grey levels / pixels. Applied to the "
                   "half-size image before the bilinear upscale. Default: clean, printed as without this option.")
@click.option("--seed", type=click.IntRange(min=0), default=0,
              help="Seed of the random corruptions: image i always gets the generator [seed, i].")
def eval_cmd(dataset, data, models, extra, limit, factor, as_json, markdown, grid, corrupt, seed) -> None:
    """Score restorations with SSIM and PSNR (skimage, RGB in [0, 1])."""
    rows = run_eval(dataset=dataset, data=data, models=models, extra=list(extra), limit=limit,
                    factor=factor, grid=grid, progress=not as_json, corrupt=list(corrupt) or None, seed=seed)
    click.echo(json.dumps(rows, indent=2) if as_json else eval_markdown(rows) if markdown else eval_table(rows))
    if grid is not None and not as_json:
        conds = conditions(list(corrupt))
        for path in [grid] if conds is None else [grid_path(grid, c) for c in conds]:
            click.echo(f"grid written to {path}")


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models_cmd(as_json: bool) -> None:
    """List registered models with parameters and GMAC per 1280x720 output frame."""
    rows = model_rows()
    click.echo(json.dumps(rows, indent=2) if as_json else models_table(rows))
