"""Training data: the CIFAR-10 training images and random crops ("patches") of larger photos.

``--data-mix cifar`` trains on CIFAR-10 alone (what every shipped file used); ``patches`` on random
``--patch-size`` crops (64x64 by default, so a 2x model reads 32x32) of the photos in ``--patch-dirs``
(default: ``sr/t91``, ``hr`` and ``people`` beside the CIFAR-10 folder, ~42 Mpx, ~125 MB loaded once);
``mix`` on both, CIFAR-10 and patch batches interleaved (a batch holds one kind: their sizes differ).
An epoch has ``--patches`` crops (default: a quarter of the CIFAR-10 training images, i.e. as many
pixels as a CIFAR-10 epoch), each from an image drawn in proportion to its number of crop positions,
so every position of every photo is equally likely.

Every random choice of an epoch (order, crops, flips, turns, how the two kinds interleave) is drawn up
front by :class:`Plan` from one generator seeded with ``seed * 1000 + epoch``: ``--resume`` replays an
interrupted epoch from its very batch, and every rank of a distributed run holds the same plan and takes
its share of each global batch. A CIFAR-10-only plan draws exactly what the recipe always drew, so
existing commands reproduce bit for bit. Each sample also has an index unique over the whole run
(:attr:`Batch.offset` + its place in the batch) that seeds its corruption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from vcam_sharpen.core.corrupt import Corruption
from vcam_sharpen.core.degrade import degrade_pair, model_input
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.quality import cifar
from vcam_sharpen.quality.datasets import read_folder

MIXES = ("cifar", "patches", "mix")
PATCH_DIRS = ("sr/t91", "hr", "people")  # under the shared data root, the parent of the CIFAR-10 folder


def patch_dirs(spec: str, data: str) -> list[Path]:
    """The ``--patch-dirs`` folders (comma-separated), or :data:`PATCH_DIRS` beside the CIFAR-10 folder.

    Raises:
        UserError: a folder is missing (one line, saying what to pass).
    """
    if spec.strip():
        dirs = [Path(p.strip()) for p in spec.split(",") if p.strip()]
    else:
        root = cifar.batch_folder(Path(data) if data else None).parent
        dirs = [root / d for d in PATCH_DIRS]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise UserError(f"--patch-dirs: no folder {', '.join(missing)}; pass --patch-dirs DIR[,DIR...] (default: "
                        f"{', '.join(PATCH_DIRS)} beside the CIFAR-10 folder)")
    return dirs


def load_patch_images(dirs: list[Path], size: int) -> list[np.ndarray]:
    """Every image of ``dirs`` (sorted by folder, then name) as ``(H, W, 3)`` uint8 RGB; images smaller than
    ``size`` on a side are left out.

    Raises:
        UserError: no image of at least ``size`` x ``size`` pixels.
    """
    images = [img for d in dirs for img in read_folder(d) if min(img.shape[:2]) >= size]
    if not images:
        raise UserError(f"no image of at least {size}x{size} pixels in {', '.join(map(str, dirs))} "
                        f"(--patch-dirs, --patch-size)")
    return images


@dataclass
class Batch:
    """One (share of a) training batch.

    x: ``(b, 3, H, W)`` float in [0, 1] on the training device, flips and turns applied.
    ids: the CIFAR-10 training indices of the samples (for the teacher cache); ``None`` for patches.
    flips: ``(b,)`` bool, which samples were mirrored.
    offset: the run-wide index of the first sample; sample ``i`` is corrupted with ``[seed, offset + i]``.
    """

    x: torch.Tensor
    ids: torch.Tensor | None
    flips: torch.Tensor
    offset: int


class Plan:
    """The batches of one epoch: ``steps`` global batches of at most ``batch_size`` samples.

    Args:
        epoch, seed: the generator is ``torch.Generator().manual_seed(seed * 1000 + epoch)``.
        train_x: CIFAR-10 training images, ``(N, 32, 32, 3)`` uint8 on the training device, or ``None``
            (``--data-mix patches``).
        patches: the photos to crop from, or ``None`` (``--data-mix cifar``).
        count: crops per epoch; size: crop side.
    """

    def __init__(self, epoch: int, seed: int, batch_size: int, train_x: torch.Tensor | None,
                 patches: list[np.ndarray] | None = None, count: int = 0, size: int = 64, rot90: bool = False,
                 device: torch.device | str = "cpu") -> None:
        gen = torch.Generator().manual_seed(seed * 1000 + epoch)
        self.batch_size, self.train_x, self.patches, self.size = batch_size, train_x, patches, size
        self.device = torch.device(device)
        nc = 0 if train_x is None else len(train_x)
        npch = 0 if patches is None else count
        self.counts = {"cifar": nc, "patches": npch}
        self.draws: dict[str, dict[str, torch.Tensor | None]] = {}
        if nc:  # the recipe's original draws, in their original order
            self.draws["cifar"] = {
                "order": torch.randperm(nc, generator=gen).to(self.device),
                "flips": (torch.rand(nc, generator=gen) < 0.5).to(self.device),
                "turns": torch.randint(0, 4, (nc,), generator=gen).to(self.device) if rot90 else None}
        if npch:
            hs = torch.tensor([p.shape[0] - size + 1 for p in patches], dtype=torch.float64)
            ws = torch.tensor([p.shape[1] - size + 1 for p in patches], dtype=torch.float64)
            img = torch.multinomial(hs * ws, npch, replacement=True, generator=gen)
            u = torch.rand(npch, 2, generator=gen, dtype=torch.float64)
            self.draws["patches"] = {
                "img": img, "top": (u[:, 0] * hs[img]).long(), "left": (u[:, 1] * ws[img]).long(),
                "flips": (torch.rand(npch, generator=gen) < 0.5).to(self.device),
                "turns": torch.randint(0, 4, (npch,), generator=gen).to(self.device) if rot90 else None}
        per_kind = {k: math.ceil(n / batch_size) for k, n in self.counts.items()}
        kinds = ["cifar"] * per_kind["cifar"] + ["patches"] * per_kind["patches"]
        if nc and npch:  # interleave the two kinds of batch in a random order
            kinds = [kinds[i] for i in torch.randperm(len(kinds), generator=gen).tolist()]
        seen = {"cifar": 0, "patches": 0}
        self.steps: list[tuple[str, int]] = []
        for k in kinds:
            self.steps.append((k, seen[k]))
            seen[k] += 1
        # run-wide sample indices: epoch e owns [e * per_epoch, (e + 1) * per_epoch)
        self.base = epoch * (nc + npch)

    @staticmethod
    def steps_per_epoch(batch_size: int, cifar_count: int, patch_count: int) -> int:
        return math.ceil(cifar_count / batch_size) + math.ceil(patch_count / batch_size)

    def span(self, step: int) -> tuple[str, int, int]:
        """``(kind, start, stop)``: the global batch of ``step`` as positions in its kind's epoch order."""
        kind, j = self.steps[step]
        start = j * self.batch_size
        return kind, start, min(start + self.batch_size, self.counts[kind])

    def take(self, kind: str, start: int, stop: int, flip: bool) -> Batch:
        """Samples ``start:stop`` of ``kind`` in this epoch's order, mirrored where drawn (with ``flip``)
        and turned (with ``rot90``)."""
        d, sl = self.draws[kind], slice(start, stop)
        if kind == "cifar":
            ids = d["order"][sl]
            x = self.train_x[ids].permute(0, 3, 1, 2).float().div_(255.0)
            offset = self.base + start
        else:
            ids, s = None, self.size
            crops = [self.patches[i][t:t + s, left:left + s] for i, t, left in
                     zip(d["img"][sl].tolist(), d["top"][sl].tolist(), d["left"][sl].tolist())]
            x = torch.from_numpy(np.stack(crops)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
            offset = self.base + self.counts["cifar"] + start
        flips = d["flips"][sl]
        if flip:
            x[flips] = x[flips].flip(-1)
        if d["turns"] is not None:
            for k in (1, 2, 3):
                sel = d["turns"][sl] == k
                x[sel] = torch.rot90(x[sel], k, dims=(-2, -1))
        return Batch(x, ids, flips, offset)


@torch.no_grad()
def teacher_targets(teacher: nn.Module, images: torch.Tensor, factor: int, mirrored: bool,
                    batch_size: int = 256, corrupt: Corruption | None = None, progress: bool = True,
                    workers: int = 0) -> list[torch.Tensor]:
    """The teacher's output for every training image, and for its mirror image with ``mirrored``.

    Computed once instead of at every step: a deep teacher costs far more than the
    student it teaches (on two CPU cores, hours over a run). Stored as float16 (half the
    memory; far below the 1/255 steps of the frames), ``(N, 3, H, W)`` each, on the
    images' device. Random 90-degree turns would need eight copies, so they are not cached.
    ``corrupt``: the training corruption, applied to the teacher's input as to the student's; only a
    deterministic one (``not corrupt.is_random``: jpeg, h264, blur) can be cached, random noise cannot.
    """
    if corrupt is not None and corrupt.is_random:
        raise ValueError(f"the teacher's outputs cannot be cached under the random corruption {corrupt}")
    outs = []
    for flip in (False, True) if mirrored else (False,):
        parts = []
        desc = "teacher outputs" + (" (mirrored)" if flip else "")
        for i in tqdm(range(0, len(images), batch_size), desc=desc, leave=False, disable=not progress):
            x = images[i:i + batch_size].permute(0, 3, 1, 2).float().div_(255.0)
            if flip:
                x = x.flip(-1)
            small, degraded = degrade_pair(x, factor, corrupt, workers=workers)
            parts.append(teacher(model_input(teacher, small, degraded)).half())
        outs.append(torch.cat(parts))
    return outs
