"""Distributed data-parallel training with PyTorch's standard engine, under ``torchrun``.

    torchrun --nproc-per-node N -m train student ...      (or: python -m torch.distributed.run ...)

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them :func:`from_env` returns the
single-process :class:`Dist` and the recipe runs exactly as before. With them, every rank builds the same
model (same seed), wraps it in :class:`~torch.nn.parallel.DistributedDataParallel` (gloo on the CPU,
nccl on CUDA, one GPU per rank: ``cuda:LOCAL_RANK``), holds the same epoch plan (train/data.py) and
takes a contiguous share of each global batch of ``--batch-size`` samples (``--batch-size / N`` each).
A rank's loss is weighted by ``share * N / global batch``, so DDP's average of the ranks' gradients is
the gradient of the global batch's mean loss, also for the shorter last batch of an epoch (a rank whose
share is empty runs one sample with weight 0). Rank 0 alone validates, prints and writes the checkpoint
and ``metrics.json``; every rank reads the checkpoint on ``--resume``. A distilled run's teacher cache
(clean or deterministic corruption) is computed by every rank in full, so it takes as long as in one
process; the other ranks wait for rank 0's validation at their next gradient all-reduce.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank ``rank`` of ``world``; ``enabled`` only under torchrun."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def main(self) -> bool:
        """Rank 0: the one process that validates, prints and writes files."""
        return self.rank == 0


def from_env(env: dict | None = None) -> Dist:
    """The :class:`Dist` torchrun describes in the environment; single-process without ``RANK``/``WORLD_SIZE``."""
    env = os.environ if env is None else env
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Dist()
    return Dist(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)), True)


def start(d: Dist, device_type: str) -> torch.device:
    """Join the process group (nccl for ``cuda``, else gloo); returns this rank's device."""
    if not d.enabled:
        return torch.device(device_type)
    if device_type == "cuda":
        torch.cuda.set_device(d.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return torch.device("cuda", d.local_rank) if device_type == "cuda" else torch.device("cpu")


def wrap(model: nn.Module, d: Dist, device: torch.device) -> nn.Module:
    """``model`` itself in one process, else its DistributedDataParallel wrapper (gradients averaged)."""
    if not d.enabled:
        return model
    # 1x1 convs get gradients in another memory layout than DDP's buckets: a copy, harmless at these sizes
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def share(start: int, stop: int, d: Dist) -> tuple[int, int, float]:
    """This rank's contiguous part ``[a, b)`` of the global batch ``[start, stop)`` and its loss weight.

    Parts differ by at most one sample. The weight is ``(b - a) * world / (stop - start)`` (1 for an
    even split; exactly 1.0 in one process). An empty part becomes the batch's first sample with weight 0,
    so the rank still joins the gradient all-reduce without changing it.
    """
    if not d.enabled:
        return start, stop, 1.0
    n = stop - start
    base, extra = divmod(n, d.world)
    a = start + d.rank * base + min(d.rank, extra)
    b = a + base + (1 if d.rank < extra else 0)
    if a == b:
        return start, start + 1, 0.0
    return a, b, (b - a) * d.world / n


def total(value: float, d: Dist, device: torch.device) -> float:
    """The sum of ``value`` over the ranks (``value`` itself in one process)."""
    if not d.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())


def finish(d: Dist, clean: bool) -> None:
    """Leave the process group; after a normal end, wait for rank 0's last files first."""
    if d.enabled and dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()
