"""Quality commands: ``eval``, ``models`` and ``compare``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..quality.report import DEGRADATIONS, conditions, grid_path, model_rows, run_eval, tag_rows
from ..tools.bench import default_source
from ..tools.compare import DEMO, compare
from .app import cli, output_file
from .text import eval_markdown, eval_table, models_table, tags_table


GRID_DEFAULT = "grid.png"  # eval --grid without a name: in the current folder
DATA_HELP = "Dataset folder (CIFAR-10 batches, or their parent); default: the per-user cache, downloaded if missing."


@cli.command("eval")
@click.option("--dataset", default="cifar10", show_default=True, metavar="cifar10|set5|DIR",
              help="CIFAR-10 test set, Set5, any folder of images, or a video file (24 frames spread over it).")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), default=None, help=DATA_HELP)
@click.option("--models", "models", default="all", metavar="LIST",
              help="Comma-separated rows: bilinear, unsharp, shipped weights or model names (see vcam-sharpen "
                   "models), .pt files; 'all': the baselines and every shipped tag of the task.")
@click.option("--weights", "extra", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Also score this checkpoint file (repeatable).")
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=None, help="Score only the first N images.")
@click.option("--factor", type=click.IntRange(2, 4), default=2, help="Degradation factor.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--markdown", is_flag=True, help="Print the table as markdown (the README's).")
@click.option("--grid", type=click.Path(path_type=Path, dir_okay=False), default=None, is_flag=False,
              flag_value=GRID_DEFAULT, metavar="[FILE.png]", callback=output_file,
              help=f"Write a before/after PNG grid: degraded / each row / ground truth; --grid alone writes "
                   f"{GRID_DEFAULT}. With --corrupt, one grid per condition, named after it: --grid g.png "
                   f"--corrupt jpeg:50 writes g-jpeg_50.png.")
@click.option("--corrupt", "corrupt", multiple=True, metavar="SPEC",
              help="Score under a webcam condition (repeatable; one table block per condition, each headed by "
                   "its condition): clean, noise:SIGMA, pg:A,B, jpeg:Q, h264:CRF, blur:SIGMA, camera, soft, or terms "
                   "joined with '+' (blur:0.8+noise:3+jpeg:70); values in grey levels / pixels, within SIGMA "
                   "0..255 (noise), A,B 0..255, Q 1..100, CRF 0..51, blur SIGMA 0..50, at most 16 terms. Applied to "
                   "the half-size image before the bilinear upscale. Default: clean, printed as without this option.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0,
              help="Seed of the random corruptions: image i always gets the generator [seed, i].")
@click.option("--degradation", type=click.Choice(DEGRADATIONS), default="2x", show_default=True,
              help="2x: downscale, [--corrupt,] bilinear upscale (the 2x models' task); soft: the same-size task "
                   "(--degrade 1): each --corrupt condition, by default the soft webcam preset (blur, sensor noise, "
                   "a codec), on the full-size image; rows input, unsharp and the same-size models.")
@click.option("--consecutive", type=click.IntRange(min=2), default=None, metavar="N",
              help="Score the first N consecutive frames of a video (--dataset CLIP.mp4) in order, through the "
                   "daemon's own path with its temporal stage; rows add flicker (grey levels). A picture file as "
                   "--dataset gives a synthetic pan (8 px per frame) with a cut halfway. Rows may include auto (what "
                   "the daemon runs by default), atadenoise and fftdnoiz (FFmpeg's temporal denoisers + bilinear).")
@click.option("--temporal", type=click.Choice(["auto", "on", "off"]), default=None,
              help="With --consecutive: the temporal stage for the model rows (default auto, as the daemon).")
def eval_cmd(dataset, data, models, extra, limit, factor, as_json, markdown, grid, corrupt, seed,
             degradation, consecutive, temporal) -> None:
    """Score restorations with SSIM and PSNR (skimage, RGB in [0, 1])."""
    rows = run_eval(dataset=dataset, data=data, models=models, extra=list(extra), limit=limit,
                    factor=factor, grid=grid, progress=not as_json, corrupt=list(corrupt) or None, seed=seed,
                    degradation=degradation, consecutive=consecutive, temporal=temporal)
    click.echo(json.dumps(rows, indent=2) if as_json else eval_markdown(rows) if markdown else eval_table(rows))
    if grid is not None and not as_json:
        conds = conditions(list(corrupt) or (["soft"] if degradation == "soft" else []))
        for path in [grid] if conds is None else [grid_path(grid, c) for c in conds]:
            click.echo(f"grid written to {path}")


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models_cmd(as_json: bool) -> None:
    """List the architectures and the shipped weight tags: task, parameters, GMAC per 1280x720 output frame,
    the quality each checkpoint records, and which ones --model auto chooses from."""
    archs, tags = model_rows(), tag_rows()
    if as_json:
        click.echo(json.dumps({"architectures": archs, "tags": tags}, indent=2))
    else:
        click.echo(models_table(archs) + "\n\n" + tags_table(tags))


@cli.command("compare")
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="A video file, a picture, or demo (the built-in demo scene); default: the face clip beside "
                   "the checkout when there is one, else demo.")
@click.option("--models", default="none,default", show_default=True, metavar="LIST",
              help="Comma-separated panels, left to right: none (the picture without a network), default, "
                   "shipped weights, model names, .pt files.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=Path("compare.png"),
              callback=output_file, show_default=True, help="The PNG to write.")
@click.option("--degrade", type=click.Choice(["1", "2"]), default="2", show_default=True,
              help="As in the daemon (and its default): 2 the simulated 2x link, 1 the frame at its own size.")
@click.option("--corrupt", default=None, metavar="SPEC",
              help="Corrupt the frame first like a webcam (as eval --corrupt, e.g. camera or soft).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, help="Seed of a random --corrupt.")
@click.option("--frame", "index", type=click.IntRange(0, 10_000_000), default=0, show_default=True,
              help="Which frame of the video (0-based).")
@click.option("--crop", default=None, metavar="X,Y,W,H", help="The box to show, in pixels; default: the whole frame.")
@click.option("--zoom", type=click.IntRange(1, 8), default=2, show_default=True,
              help="Nearest-neighbour enlargement of the crop.")
def compare_cmd(source, models, out, degrade, corrupt, seed, index, crop, zoom) -> None:
    """One frame through several models side by side, as the daemon runs them (before/after pictures)."""
    if source is None:
        source = Path(default_source())  # the demo scene when the face clip is not beside the checkout
    info = compare(source, models, out, degrade=int(degrade), corrupt=corrupt, seed=seed, index=index, crop=crop,
                   zoom=zoom)
    x, y, w, h = info["crop"]
    shown = "the demo scene" if str(source) == DEMO and not source.exists() else source
    click.echo(f"{info['path']}: frame {info['frame']} of {shown}, box {w}x{h} at {x},{y}, "
               f"panels {', '.join(info['labels'])}")
