"""``vcam-sharpen eval`` and ``vcam-sharpen models``: build the rows, format them."""

from __future__ import annotations

from pathlib import Path

import re

import cv2
import numpy as np
import torch
from torch import nn

from ..core import loader
from ..core.baselines import Bilinear, UnsharpMask
from ..core.corrupt import Corruption, h264_available, parse_corruption
from ..core.degrade import check_mode, degrade_pair, model_task
from ..core.errors import UserError
from ..core.files import atomic_write, check_output
from ..core.models import count_macs, count_parameters, create_model, get_spec, list_models
from ..core.tags import TAGS
from ..runtime.noiseaware import FirstFrameChoice
from ..runtime.tuning import resolve
from .datasets import load_eval_set
from .evaluate import modcrop, restore, score_arrays, to_images, to_tensor
from .sequence import check_rows, load_sequence, sequence_rows


GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# The tasks eval scores: "2x" (the foundation's protocol: downscale, [corrupt,] bilinear upscale) and
# "soft" (same size: the corruption, by default the soft webcam preset, on the full-size image).
DEGRADATIONS = ("2x", "soft")


def methods(models: str, extra: list[Path] = (), degrade: int = 2) -> list[tuple[str, nn.Module, dict]]:
    """``(label, module, info)`` for every requested row, in table order.

    ``models`` is a comma-separated list of names the loader accepts (:func:`vcam_sharpen.core.loader.names`),
    or ``all`` for the two baselines and every shipped tag (:data:`vcam_sharpen.core.tags.TAGS`) that runs in the
    task's mode (:func:`vcam_sharpen.core.degrade.check_mode`): for ``degrade=2`` the 2x models, for 1 the
    same-size models and the full-resolution seed models; ``extra`` adds checkpoint files. ``degrade=1`` (the soft
    task) calls the no-network row ``input`` and uses the unsharp mask tuned for it.
    """
    if models.strip() == "all":  # each file loaded once; models of the other task skipped, not refused
        rows = [_row(spec, degrade, skip_unfit=True) for spec in [*loader.BASELINES, *loader.shipped()]]
        rows = [r for r in rows if r is not None]
    else:
        wanted = [m.strip() for m in models.split(",") if m.strip()]
        if not wanted and not extra:
            raise UserError("--models is empty; pass at least one row, e.g. --models bilinear,student")
        rows = [_row(spec, degrade) for spec in wanted]
    return rows + [_row(str(p), degrade) for p in extra]


def _row(spec: str, degrade: int = 2, skip_unfit: bool = False) -> tuple[str, nn.Module, dict] | None:
    """One row; a model of the other task (:func:`vcam_sharpen.core.degrade.check_mode`) is a UserError, or
    None with ``skip_unfit``."""
    spec = resolve(spec, degrade=degrade).spec
    label = loader.label(spec)
    model = loader.load(spec, task=degrade)
    if model is None:
        return ("input" if degrade == 1 else label), Bilinear(), {"kind": "baseline"}
    if isinstance(model, loader.ModelPair):  # a still: the member the choice takes on a camera's first frame
        model = FirstFrameChoice(model)
    if isinstance(model, UnsharpMask):  # tuned for the task by the loader (baselines.unsharp_for)
        return label, model, {"kind": "baseline", "sigma": model.sigma, "amount": model.amount}
    try:
        check_mode(model, degrade)
    except UserError:
        if skip_unfit:
            return None
        if degrade == 1:
            raise UserError(f"row {label} is a 2x model: it cannot score the same-size --degradation soft task; "
                            f"drop it from --models") from None
        raise UserError(f"row {label} sharpens at the frame's own size: it cannot score the 2x task; use "
                        f"--degradation soft, or drop it from --models") from None
    info = {"kind": "model", "model": model.model_name, "weights": _weights_name(spec),
            "params": count_parameters(model), "gmac_720p": round(count_macs(model) / 1e9, 3)}
    return label, model, info


def _weights_name(spec: str) -> str:
    if loader.is_path(spec):
        return Path(spec).name
    path = loader.shipped().get(loader.label(spec))
    return path.name if path is not None else ""


def conditions(specs: list[str] | None) -> list[Corruption] | None:
    """Parse ``--corrupt`` values (duplicates dropped, order kept); ``None`` or empty: the plain protocol.

    Raises:
        UserError: a bad spec (one line), or ``h264`` without PyAV/libx264.
    """
    if not specs:
        return None
    out: list[Corruption] = []
    for text in specs:
        c = parse_corruption(text)
        if c.needs_h264 and not h264_available():
            raise UserError(f"--corrupt {text}: the h264 corruption needs PyAV with libx264 (pip install av)")
        if c not in out:
            out.append(c)
    return out


def grid_path(grid: Path, condition: Corruption | str) -> Path:
    """``out.png`` -> ``out-noise_5.png``: the grid file of one condition (characters other than letters,
    digits, ``.``, ``+`` and ``-`` become ``_``)."""
    grid = Path(grid)
    slug = re.sub(r"[^A-Za-z0-9.+-]", "_", str(condition))
    return grid.with_name(f"{grid.stem}-{slug}{grid.suffix}")


def run_eval(dataset: str = "cifar10", data: Path | None = None, models: str = "all", extra: list[Path] = (),
             limit: int | None = None, factor: int = 2, grid: Path | None = None, progress: bool = True,
             corrupt: list[str] | None = None, seed: int = 0, degradation: str = "2x", consecutive: int | None = None,
             temporal: str | None = None) -> list[dict]:
    """Score every requested row on ``dataset``; optionally write a before/after grid.

    ``degradation``: ``2x`` (the protocol above, at ``factor``) or ``soft``: the same-size task, each
    ``corrupt`` condition (default: the ``soft`` preset) applied to the full-size image, no downscale.

    Returns one dict per row: label, kind, ssim, psnr, n, and for models
    model name, weights file, params and gmac_720p.

    ``corrupt``: corruption specs (:mod:`vcam_sharpen.core.corrupt`), each applied to the half-size
    images (image ``i`` seeded with ``[seed, i]``); the rows come in one block per condition, each row
    with ``condition`` (the canonical spec) and ``seed``, and ``grid`` becomes one file per condition
    (:func:`grid_path`). ``None``: the plain protocol, rows without those keys.

    ``consecutive``: score the first N frames of a video in order through the daemon's own path, the
    temporal stage in mode ``temporal`` (default auto) carried from frame to frame
    (:mod:`vcam_sharpen.quality.sequence`; rows add flicker).
    """
    from tqdm import tqdm  # lazy: only eval shows a progress bar

    if degradation not in DEGRADATIONS:
        raise UserError(f"--degradation {degradation!r}: choose from {', '.join(DEGRADATIONS)}")
    if degradation == "soft":
        factor, corrupt = 1, corrupt or ["soft"]
    conds = conditions(corrupt)
    if temporal is not None and consecutive is None:
        raise UserError("--temporal needs --consecutive N: the temporal stage needs consecutive frames")
    if consecutive is not None:
        if degradation != "2x" or factor != 2 or grid is not None or extra:
            raise UserError("--consecutive scores the 2x task (--factor 2), without --grid or --weights")
        rows_n = len(check_rows(models, temporal or "auto")) * len(conds or [None])
        frames = load_sequence(dataset, consecutive)
        with tqdm(total=len(frames) * rows_n, desc=f"eval {dataset}", unit="frame", disable=not progress) as bar:
            return sequence_rows(frames, models, temporal or "auto", conds, seed, bar.update, dataset)
    if grid is not None and not Path(grid).parent.is_dir():  # before minutes of scoring, not after
        raise UserError(f"--grid {grid}: folder {Path(grid).parent} does not exist; create it first")
    if grid is not None and Path(grid).suffix.lower() not in GRID_SUFFIXES:
        raise UserError(f"--grid {grid}: give a picture file name ({', '.join(GRID_SUFFIXES)}), e.g. grid.png")
    for cond in (conds or [None]) if grid is not None else []:
        check_output(grid if cond is None else grid_path(grid, cond), "--grid")
    rows_methods = methods(models, list(extra), degrade=1 if factor == 1 else 2)
    images = load_eval_set(dataset, data, limit)
    rows = []
    total = len(images) * len(rows_methods) * len(conds or [None])
    with tqdm(total=total, desc=f"eval {dataset}", unit="img", disable=not progress) as bar:
        for cond in conds or [None]:
            tag = {} if cond is None else {"condition": str(cond), "seed": seed}
            if degradation == "soft":
                tag["degradation"] = "soft"
            for label, method, info in rows_methods:
                bar.set_postfix_str(label if cond is None else f"{cond} {label}")
                score = score_arrays(method, images, factor, progress=bar.update, corrupt=cond, seed=seed)
                if not (np.isfinite(score["ssim"]) and np.isfinite(score["psnr"])):
                    raise UserError(f"row {label}: its scores are not finite (the model outputs NaN or Inf)")
                rows.append({"label": label, **info, "dataset": dataset, **tag, "ssim": round(score["ssim"], 4),
                             "psnr": round(score["psnr"], 2), "n": score["n"]})
    if grid is not None:
        for cond in conds or [None]:
            write_grid(grid if cond is None else grid_path(grid, cond), rows_methods, images, factor,
                       corrupt=cond, seed=seed)
    return rows


def model_rows() -> list[dict]:
    """Every registered architecture with its task (``2x``, ``same-size`` or ``either``: full-resolution
    restorers run in both modes), parameters and GMAC per 1280x720 output frame."""
    rows = []
    for name in list_models():
        model = create_model(name)
        rows.append({"name": name, "task": model_task(model) or "either", "params": count_parameters(model),
                     "gmac_720p": round(count_macs(model, 720, 1280) / 1e9, 3),
                     "description": get_spec(name).description})
    return rows


def tag_rows() -> list[dict]:
    """Every shipped weight tag (:data:`vcam_sharpen.core.tags.TAGS`, table order): architecture, task, GMAC
    per 1280x720 output frame, the quality its checkpoint records, and its place on ``auto``'s ladder; then the
    shipped pairs (``noise-aware``: the dearer member's cost, the clean member's clean and the noisy member's
    corrupted SSIM). A tag a shipped pair replaces on the ladder is no ``auto`` candidate."""
    rows, have, pairs = [], loader.shipped(), loader.pairs()
    gone = {loader.PAIRS[p].replaces for p in pairs}
    for tag, path in have.items():
        row, model = TAGS[tag], loader.load(tag)
        rows.append({"name": tag, "arch": row.arch, "task": row.task, "params": count_parameters(model),
                     "gmac_720p": round(count_macs(model, 720, 1280) / 1e9, 3), **loader.recorded_quality(path),
                     "auto": row.auto and tag not in gone, "auto_rank": row.rank, "description": row.description})
    for name, (clean, noisy) in pairs.items():
        pair, model = loader.PAIRS[name], loader.load(name)
        rows.append({"name": name, "arch": " | ".join(dict.fromkeys(TAGS[m].arch for m in pair.members)),
                     "task": pair.task, "params": max(count_parameters(m) for m in model.members),
                     "gmac_720p": round(count_macs(model, 720, 1280) / 1e9, 3),
                     "val_ssim": loader.recorded_quality(have[clean])["val_ssim"],
                     "val_ssim_corrupt": loader.recorded_quality(have[noisy])["val_ssim_corrupt"], "corrupt": None,
                     "members": list(pair.members), "auto": pair.auto, "auto_rank": pair.rank,
                     "description": pair.description})
    return rows


@torch.no_grad()
def write_grid(path: Path, methods: list[tuple[str, nn.Module, dict]], images, factor: int, count: int = 6,
               cell: int = 128, corrupt: Corruption | str | None = None, seed: int = 0) -> Path:
    """PNG grid, one image per row: degraded / each method except bilinear / ground truth.

    With ``corrupt`` the degraded column (and what the methods restore) is the corrupted input, image ``i``
    seeded with ``[seed, i]`` (on the central crop shown, so not pixel for pixel the scored corruption).
    """
    cols = [m for m in methods if not isinstance(m[1], Bilinear)]  # the input column shows it already
    first = "degraded" if corrupt is None else f"in: {corrupt}"
    labels = [first, *[m[0] for m in cols], "ground truth"]
    tiles = []
    for i, img in enumerate(list(images[:count])):
        img = _center(modcrop(img, factor), cell)
        gt = to_tensor(img[None])
        degraded = degrade_pair(gt, factor, corrupt, seed, i)[1]
        outs = [restore(m, gt, factor, corrupt, seed, i)[1] for _, m, _ in cols]
        row = [to_images(t)[0] for t in (degraded, *outs, gt)]
        tiles.append(_with_gaps([_fit(t, cell) for t in row], axis=1))
    grid = _with_gaps([grid_header(labels, cell), *tiles], axis=0)
    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(f"--grid {path}: folder {path.parent} does not exist; create it first")
    try:
        written, data = cv2.imencode(path.suffix.lower(), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    except cv2.error:  # no writer for the name's extension
        written = False
    if not written:
        raise UserError(f"cannot write grid image {path} (use a .png name in a writable folder)")
    return atomic_write(path, data.tobytes())


def _center(img: np.ndarray, size: int) -> np.ndarray:
    """Central crop of at most ``size`` x ``size`` (small images are kept whole)."""
    h, w = img.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return img[top:top + size, left:left + size]


GAP = 4  # white pixels between the grid's columns and rows, so neighbouring pictures never run together
FONT, FONT_SCALE, LINE_H = cv2.FONT_HERSHEY_SIMPLEX, 0.4, 14


def _with_gaps(parts: list[np.ndarray], axis: int) -> np.ndarray:
    shape = list(parts[0].shape)
    shape[axis] = GAP
    gap = np.full(shape, 255, np.uint8)
    return np.concatenate([p for part in parts for p in (gap, part)][1:], axis=axis)


def label_lines(text: str, width: int) -> list[str]:
    """``text`` wrapped into lines that fit ``width`` pixels in the grid's font, broken after ``-``, ``_``,
    ``:`` or ``+`` where it can and inside a word only where it must: every character is kept, so two
    different labels never show as the same text."""
    def fits(t: str) -> bool:
        return cv2.getTextSize(t, FONT, FONT_SCALE, 1)[0][0] <= width

    lines, cur = [], ""
    for tok in re.findall(r"[^-_:+]*[-_:+]?", text):
        if not tok:
            continue
        if fits(cur + tok):
            cur += tok
            continue
        if cur:
            lines.append(cur)
        cur = ""
        for ch in tok:  # a token wider than the cell: break it by character
            if cur and not fits(cur + ch):
                lines.append(cur)
                cur = ""
            cur += ch
    return lines + [cur] if cur else lines


def grid_header(labels: list[str], cell: int) -> np.ndarray:
    """The grid's white label row: each label above its column (with the gaps), wrapped, never cut."""
    wrapped = [label_lines(t, cell - 6) for t in labels]
    header = np.full((8 + LINE_H * max(map(len, wrapped)), (cell + GAP) * len(labels) - GAP, 3), 255, np.uint8)
    for i, lines in enumerate(wrapped):
        for j, line in enumerate(lines):
            cv2.putText(header, line, (i * (cell + GAP) + 3, 14 + LINE_H * j), FONT, FONT_SCALE, (0, 0, 0), 1,
                        cv2.LINE_AA)
    return header


def _fit(img: np.ndarray, cell: int) -> np.ndarray:
    """Float [0, 1] image -> uint8 ``cell`` x ``cell`` tile (nearest-neighbour, so pixels stay visible)."""
    u8 = (img * 255.0 + 0.5).astype(np.uint8)
    return cv2.resize(u8, (cell, cell), interpolation=cv2.INTER_NEAREST)
