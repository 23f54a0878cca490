"""Speed commands (export, bench)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..core import loader
from ..core.degrade import check_mode
from ..core.errors import UserError
from ..runtime.engines import ENGINES
from ..runtime.export import export_file
from ..runtime.tuning import resolve
from ..tools.bench import parse_size, run_bench
from ..core.files import check_output, check_writable
from .app import Finite, cli, output_file
from .text import bench_markdown, bench_table

ENGINE_HELP = "Inference engine: auto = ONNX Runtime on CPU, CUDA (torch or onnxruntime-gpu) when present."
DEVICE_HELP = "auto, cpu or cuda (cuda is never required; asking for it without CUDA is an error)."
THREADS_HELP = "Intra-op threads of the engine (ONNX Runtime default: 2)."


@cli.command("export")
@click.option("--model", default=None, metavar="NAME|FILE.pt",
              help="A model name or shipped weight tag (see vcam-sharpen models), or a .pt file; "
                   "default: the one --weights holds, else the default model.")
@click.option("--weights", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Checkpoint to export; default: the shipped weights of --model.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, callback=output_file,
              help="Output file; default: <model>.onnx (<model>-<kind>.onnx for frame graphs).")
@click.option("--kind", type=click.Choice(["model", "frame2x", "frame"]), default="model",
              help="model: float NCHW RGB in [0,1] (the network as trained); frame2x: uint8 BGR half-size "
                   "frame in, uint8 BGR full-size frame out, colour, upscale and rounding inside (--degrade 2 "
                   "in one graph); frame: the same at the frame's own size (--degrade 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def export_cmd(model, weights, out, kind, as_json) -> None:
    """Export a model to ONNX (opset 17, dynamic height and width) and check it against torch."""
    degrade = 1 if kind == "frame" else 2  # the mode a frame graph is for
    module = loader.load(resolve(model, degrade=degrade, weights=weights).spec, weights)
    if isinstance(module, loader.ModelPair):
        raise UserError(f"--model {module.model_name} is two networks chosen while running; export each: "
                        + ", ".join(f"--model {m}" for m in module.names))
    if module is None or not hasattr(module, "model_name"):
        raise UserError(f"--model {model}: a classical baseline, not a network; there is nothing to export "
                        "(pick a model from vcam-sharpen models)")
    if kind != "model":
        check_mode(module, degrade=degrade)
    name = getattr(module, "model_name", "model")
    out = check_output(out or Path(f"{name}.onnx" if kind == "model" else f"{name}-{kind}.onnx"), "--out")
    check_writable(out, "--out")
    info = export_file(module, out, kind)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        unit = "" if kind == "model" else " grey levels"
        click.echo(f"wrote {info['path']} ({info['bytes']:,} bytes, {kind}, opset {info['opset']}); "
                   f"max |onnxruntime - torch| = {info['max_abs_diff']:.2g}{unit}")


@cli.command("bench")
@click.option("--source", default=None, metavar="FILE|demo|N",
              help="Frames to use; default: ../shared/data/video/face_1280x720.mp4 if present, else demo.")
@click.option("--size", default="1280x720", metavar="WxH", help="Frame size (frames are resized to it).")
@click.option("--models", default="bilinear,unsharp,default", metavar="LIST",
              help="Comma-separated rows: bilinear, unsharp, default, model names, shipped labels, .pt files; "
                   "or all.")
@click.option("--frames", type=click.IntRange(1, 100_000), default=120, help="Frames per row.")
@click.option("--degrade", type=click.Choice(["1", "2"]), default="2", help="As in the daemon.")
@click.option("--engine", type=click.Choice(ENGINES), default="auto", help=ENGINE_HELP)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", help=DEVICE_HELP)
@click.option("--threads", type=click.IntRange(1, 256), default=None, help=THREADS_HELP)
@click.option("--paced-frames", type=click.IntRange(0, 100_000), default=90,
              help="Frames of the paced run (CPU use at a real-time source); 0 skips it.")
@click.option("--paced-fps", type=Finite(1.0, 240.0), default=30.0, help="Rate of the paced run.")
@click.option("--max-seconds", type=Finite(1.0, 3600.0), default=30.0,
              help="Time cap per row and phase (slow models measure fewer frames).")
@click.option("--temporal", type=click.Choice(["on", "off", "auto"]), default="on", show_default=True,
              help="The temporal stage (its own column): on counts its cost whatever the noise; auto as the daemon.")
@click.option("--skip-static", "skip_static", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="Static-region reuse, as the daemon's --skip-static.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--markdown", is_flag=True, help="Print the rows as markdown (the README's table).")
def bench_cmd(source, size, models, frames, degrade, engine, device, threads, paced_frames, paced_fps,
              max_seconds, temporal, skip_static, as_json, markdown) -> None:
    """Measure end-to-end fps, per-stage latency, model-only fps and CPU use of each row."""
    progress = None if as_json else (lambda label: click.echo(f"benchmarking {label} ...", err=True))
    report = run_bench(source=source, size=parse_size(size), models=models, frames=frames, engine=engine,
                       device=device, threads=threads, degrade=int(degrade), paced_frames=paced_frames,
                       paced_fps=paced_fps, max_seconds=max_seconds, progress=progress, temporal=temporal,
                       skip_static=skip_static == "on")
    click.echo(json.dumps(report, indent=2) if as_json else bench_markdown(report) if markdown
               else bench_table(report))
