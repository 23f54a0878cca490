"""``vcam-sharpen eval`` and ``vcam-sharpen models``: build the rows, format them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import checkpoint, zoo
from .baselines import UNSHARP_AMOUNT, UNSHARP_SIGMA, Bilinear, UnsharpMask
from .datasets import load_eval_set
from .degrade import degrade
from .errors import UserError
from .evaluate import modcrop, restore, score_arrays, to_images, to_tensor
from .models import count_macs, count_parameters, create_model, get_spec, list_models

BASELINES = ("bilinear", "unsharp")


def _methods(models: str, extra: list[Path]) -> list[tuple[str, nn.Module, dict]]:
    """``(label, module, info)`` for every requested row, in table order."""
    shipped = zoo.shipped()
    wanted = [*BASELINES, *shipped] if models.strip() == "all" else [m.strip() for m in models.split(",") if m.strip()]
    rows = []
    for label in wanted:
        if label == "bilinear":
            rows.append((label, Bilinear(), {"kind": "baseline"}))
        elif label == "unsharp":
            rows.append((label, UnsharpMask(), {"kind": "baseline", "sigma": UNSHARP_SIGMA, "amount": UNSHARP_AMOUNT}))
        elif label in shipped:
            rows.append(_model_row(label, shipped[label]))
        else:
            choices = ", ".join([*BASELINES, *shipped])
            raise UserError(f"--models: no row {label!r}; choose from {choices}, or pass --weights PATH")
    rows += [_model_row(_label(Path(p)), Path(p)) for p in extra]
    return rows


def _label(path: Path) -> str:
    """Row label for a checkpoint file: its stem, or its run folder for train's generic names."""
    return path.parent.name if path.stem in ("model", "checkpoint") else path.stem


def _model_row(label: str, path: Path) -> tuple[str, nn.Module, dict]:
    model, _ = checkpoint.load(path)
    info = {"kind": "model", "model": model.model_name, "weights": path.name,
            "params": count_parameters(model), "gmac_720p": round(count_macs(model) / 1e9, 3)}
    return label, model, info


def run_eval(dataset: str = "cifar10", data: Path | None = None, models: str = "all", extra: list[Path] = (),
             limit: int | None = None, factor: int = 2, grid: Path | None = None, progress: bool = True) -> list[dict]:
    """Score every requested row on ``dataset``; optionally write a before/after grid.

    Returns one dict per row: label, kind, ssim, psnr, n, and for models
    model name, weights file, params and gmac_720p.
    """
    from tqdm import tqdm

    methods = _methods(models, list(extra))
    images = load_eval_set(dataset, data, limit)
    rows = []
    with tqdm(total=len(images) * len(methods), desc=f"eval {dataset}", unit="img", disable=not progress) as bar:
        for label, method, info in methods:
            bar.set_postfix_str(label)
            score = score_arrays(method, images, factor, progress=bar.update)
            rows.append({"label": label, **info, "dataset": dataset, "ssim": round(score["ssim"], 4),
                         "psnr": round(score["psnr"], 2), "n": score["n"]})
    if grid is not None:
        write_grid(grid, methods, images, factor)
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'method':<22} {'SSIM':>7} {'PSNR':>7} {'params':>8} {'GMAC/720p':>10} {'images':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        params = f"{r['params']:,}" if "params" in r else "-"
        gmac = f"{r['gmac_720p']:.3f}" if "gmac_720p" in r else "-"
        lines.append(f"{r['label']:<22} {r['ssim']:>7.4f} {r['psnr']:>7.2f} {params:>8} {gmac:>10} {r['n']:>7}")
    return "\n".join(lines)


def format_markdown(rows: list[dict]) -> str:
    """The table as GitHub markdown (what the README shows)."""
    lines = ["| method | SSIM | PSNR (dB) | params | GMAC/720p | images |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        params = f"{r['params']:,}" if "params" in r else "-"
        gmac = f"{r['gmac_720p']:.3f}" if "gmac_720p" in r else "-"
        lines.append(f"| {r['label']} | {r['ssim']:.4f} | {r['psnr']:.2f} | {params} | {gmac} | {r['n']:,} |")
    return "\n".join(lines)


def parse_markdown(text: str) -> dict[str, float]:
    """``{label: ssim}`` from a table written by :func:`format_markdown`."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1].replace(".", "", 1).isdigit():
            out[cells[0]] = float(cells[1])
    return out


def model_rows() -> list[dict]:
    """Every registered model with parameters and GMAC per 1280x720 output frame."""
    rows = []
    for name in list_models():
        model = create_model(name)
        rows.append({"name": name, "params": count_parameters(model),
                     "gmac_720p": round(count_macs(model, 720, 1280) / 1e9, 3),
                     "description": get_spec(name).description})
    return rows


def format_models(rows: list[dict]) -> str:
    head = f"{'model':<16} {'params':>9} {'GMAC/720p':>10}  description"
    return "\n".join([head, "-" * len(head)] + [
        f"{r['name']:<16} {r['params']:>9,} {r['gmac_720p']:>10.3f}  {r['description']}" for r in rows])


@torch.no_grad()
def write_grid(path: Path, methods: list[tuple[str, nn.Module, dict]], images, factor: int, count: int = 6,
               cell: int = 128) -> Path:
    """PNG grid, one image per row: degraded / each method except bilinear / ground truth."""
    import cv2

    cols = [m for m in methods if m[0] != "bilinear"]
    labels = ["degraded", *[m[0] for m in cols], "ground truth"]
    tiles = []
    for img in list(images[:count]):
        img = _center(modcrop(img, factor), cell)
        gt = to_tensor(img[None])
        degraded = degrade(gt, factor)
        outs = [restore(m, gt, factor)[1] for _, m, _ in cols]
        row = [to_images(t)[0] for t in (degraded, *outs, gt)]
        tiles.append(np.concatenate([_fit(t, cell) for t in row], axis=1))
    header = np.full((24, cell * len(labels), 3), 255, np.uint8)
    for i, text in enumerate(labels):
        cv2.putText(header, text[:18], (i * cell + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    grid = np.concatenate([header, *tiles], axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise UserError(f"cannot write grid image {path} (use a .png name in a writable folder)")
    return path


def _center(img: np.ndarray, size: int) -> np.ndarray:
    """Central crop of at most ``size`` x ``size`` (small images are kept whole)."""
    h, w = img.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return img[top:top + size, left:left + size]


def _fit(img: np.ndarray, cell: int) -> np.ndarray:
    """Float [0, 1] image -> uint8 ``cell`` x ``cell`` tile (nearest-neighbour, so pixels stay visible)."""
    import cv2

    u8 = (img * 255.0 + 0.5).astype(np.uint8)
    return cv2.resize(u8, (cell, cell), interpolation=cv2.INTER_NEAREST)
