"""Training recipe for every sharpening model, top to bottom.

    python -m train teacher --model seed-teacher --out runs/seed-teacher
    python -m train student --model seed-student --teacher runs/seed-teacher/model.pt --alpha 0.5 --beta 0.5

The teacher learns MSE to the ground truth. The student learns
``alpha * MSE(student, teacher) + beta * MSE(student, ground truth)``; ``--alpha 0``
is the no-distillation ablation on the same recipe. Inputs are CIFAR-10 training
images degraded on the fly (2x bilinear down, bilinear up); the last ``val_size``
training images are held out for per-epoch validation, so the test set is never
used for any choice. Every epoch writes ``OUT/checkpoint.pt`` (resumable with
``--resume``) and ``OUT/metrics.json``; the end writes ``OUT/model.pt``, the file
to ship. Ctrl-C (or SIGTERM) saves the state and exits; ``--resume`` continues from the very batch
where it stopped, with the same data order and flips. ``--init CKPT`` starts from trained
weights (a fine-tuning run with another loss or learning rate).

Robust models: ``--data-mix patches|mix`` adds random crops of larger photos (train/data.py) and
``--corrupt SPEC`` (e.g. ``camera``) corrupts each sample's half-size input like a real webcam
(:mod:`vcam_sharpen.core.corrupt`; the target stays the clean image, the teacher sees the same
corrupted input). Validation is on the held-out CIFAR-10 images, clean, plus (logged as
``val_ssim_corrupt``) under the training corruption. A random corruption (noise, pg, camera) or photo
crops make the teacher run at every step instead of once per image (its outputs cannot be cached): on
the 2-core CPU a ``student`` epoch of ``--data-mix mix --corrupt camera`` takes ~5.7 min distilled
against ~2.2 min without, where ~1 ms per sample goes to the corruption itself (``--corrupt-workers``).
``torchrun --nproc-per-node N -m train ...`` runs the same recipe with DistributedDataParallel (train/dist.py).

Same-size models (``enhance``, for ``--degrade 1``): ``--factor 1 --corrupt soft-train`` trains on the
full-size image corrupted like a soft webcam frame (blur, sensor noise, a codec; a share left clean, whose
target is the input itself), and validation's clean score is then how little the model changes a sharp picture.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from vcam_sharpen.core import checkpoint
from vcam_sharpen.core.corrupt import h264_available, parse_corruption
from vcam_sharpen.core.degrade import degrade_pair, model_input, model_scale
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.files import atomic_write
from vcam_sharpen.core.models import KERNELS, count_parameters, create_model, list_models
from vcam_sharpen.quality import cifar
from vcam_sharpen.quality.evaluate import score_arrays

from . import dist, sequence
from .data import MIXES, Plan, load_patch_images, patch_dirs, teacher_targets
from .limits import Parser, check_out, check_ranges, with_range
from .losses import distillation_loss, ssim
from .options import ROLE_HELP, help_text

log = logging.getLogger("train")


@dataclass
class Config:
    role: str = "teacher"  # teacher | student
    model: str = "seed-teacher"
    model_args: str = ""  # overrides of the registered defaults, e.g. "channels=15,expand=64"
    data: str = ""  # CIFAR-10 folder; empty: the per-user cache
    out: str = ""  # run folder; empty: runs/<model>[-kd|-nokd]
    teacher: str = ""  # teacher checkpoint (student with alpha > 0)
    teacher_args: str = ""  # how to run the teacher's weights, e.g. "ensemble=1" (one pass)
    init: str = ""  # start from this checkpoint's weights (fine-tuning); same model and arguments
    alpha: float = 0.0
    beta: float = 1.0
    ssim_weight: float = 0.0  # adds ssim_weight * (1 - SSIM(student, ground truth))
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    factor: int = 2
    flip: bool = True
    rot90: bool = False  # also rotate by random multiples of 90 degrees (with flips: all 8 symmetries)
    val_size: int = 2000
    limit: int = 0  # use only the first N training images (smoke tests)
    data_mix: str = "cifar"  # cifar | patches | mix (CIFAR-10 and photo crops, batches interleaved; train/data.py)
    patch_dirs: str = ""  # photo folders to crop (comma-separated); empty: sr/t91, hr, people beside --data
    patch_size: int = 64  # side of a crop at full size (a 2x model reads half of it)
    patches: int = 0  # crops per epoch; 0: a quarter of the CIFAR-10 training images (as many pixels)
    corrupt: str = "clean"  # webcam corruption of each sample's half-size input (vcam_sharpen.core.corrupt)
    corrupt_workers: int = 0  # threads that corrupt a batch (same result; for machines with idle cores)
    sequence: int = 0  # K > 0: inputs are the temporal stage's output at the end of K-frame clips (train/sequence.py)
    seed: int = 0
    threads: int = 0  # torch threads; 0: torch's default
    device: str = "cpu"  # cpu | cuda (cuda runs are fast, not bit-reproducible)
    resume: bool = False


def parse(argv: list[str]) -> Config:
    p = Parser(prog="python -m train", description=__doc__.split("\n\n")[0],
               epilog="python -m train unsharp --help: tune the unsharp-mask baseline.")
    p.add_argument("role", choices=["teacher", "student"], help=ROLE_HELP)
    defaults = Config()
    for f in dataclasses.fields(Config):
        if f.name == "role":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                           help=help_text(f.name, default))
        else:
            p.add_argument(flag, type=type(default), default=None, metavar=f.name.upper(),
                           help=with_range(f.name, help_text(f.name, default)))
    args = vars(p.parse_args(argv))
    role = args.pop("role")
    cfg = Config(role=role, model="seed-teacher" if role == "teacher" else "seed-student",
                 alpha=0.0 if role == "teacher" else 0.5, beta=1.0 if role == "teacher" else 0.5)
    for k, v in args.items():
        if v is not None:
            setattr(cfg, k, v)
    if not cfg.out:
        suffix = "" if role == "teacher" else ("-kd" if cfg.alpha > 0 else "-nokd")
        cfg.out = f"runs/{cfg.model}{suffix}"
    return cfg


def model_args(text: str) -> dict:
    """``"channels=15,expand=64,kernels=3-3-1"`` -> ``{"channels": 15, "expand": 64, "kernels": "3-3-1"}``.

    Values are numbers, or kernel lists like ``3-d3-1`` (:data:`~vcam_sharpen.core.models.KERNELS`, kept as text).
    """
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--model-args: expected key=value, got {item!r}")
        try:
            out[key.strip()] = int(value)
        except ValueError:
            try:
                out[key.strip()] = float(value)
            except ValueError:
                if not KERNELS.fullmatch(value.strip()):
                    raise UserError(f"--model-args: {key.strip()} must be a number or a list like 3-3-1, "
                                    f"got {value!r}") from None
                out[key.strip()] = value.strip()
    return out


def check(cfg: Config) -> None:
    check_ranges(cfg)
    check_out(Path(cfg.out))
    if cfg.model not in list_models():
        raise UserError(f"unknown model {cfg.model!r}; choose from {', '.join(list_models())}")
    if cfg.role == "teacher" and cfg.alpha:
        raise UserError("a teacher trains on the ground truth only: leave --alpha at 0")
    if cfg.role == "student" and cfg.alpha > 0 and not cfg.teacher:
        raise UserError("--alpha > 0 distils from a teacher: pass --teacher PATH (or --alpha 0 for no distillation)")
    if cfg.alpha < 0 or cfg.beta < 0 or cfg.alpha + cfg.beta <= 0:
        raise UserError("--alpha and --beta must be >= 0 and not both 0")
    if cfg.data_mix not in MIXES:
        raise UserError(f"--data-mix {cfg.data_mix!r}: choose from {', '.join(MIXES)}")
    if cfg.data_mix != "cifar" and (cfg.patch_size < 16 or cfg.patch_size % cfg.factor or cfg.patches < 0):
        raise UserError(f"--patch-size must be >= 16 and a multiple of --factor {cfg.factor}, --patches >= 0")
    if cfg.sequence < 0 or (cfg.sequence and cfg.factor < 2):
        raise UserError(f"--sequence {cfg.sequence}: use 0 (single frames) or K >= 1 frames with --factor 2")
    if parse_corruption(cfg.corrupt).needs_h264 and not h264_available():  # a bad spec: a one-line UserError
        raise UserError(f"--corrupt {cfg.corrupt}: the h264 corruption needs PyAV with libx264 (pip install av)")


class OnDevice(nn.Module):
    """Runs ``model`` on its device for callers that pass and expect CPU tensors (validation)."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.model, self.device = model, device
        self.input_scale = getattr(model, "input_scale", 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.device)).float().cpu()


def _quiet(*args, **kwargs) -> None:
    """``print`` on the ranks other than 0."""


def train(cfg: Config) -> dict:
    check(cfg)
    dd = dist.from_env()
    if dd.enabled and cfg.batch_size % dd.world:
        raise UserError(f"--batch-size {cfg.batch_size} is the global batch: make it a multiple of the "
                        f"{dd.world} processes")
    say = print if dd.main else _quiet
    corruption = parse_corruption(cfg.corrupt)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device not in ("cpu", "cuda") or (cfg.device == "cuda" and not torch.cuda.is_available()):
        raise UserError(f"--device {cfg.device}: use cpu, or cuda on a machine with a CUDA GPU and a CUDA build of torch")
    device = dist.start(dd, cfg.device)
    completed = False
    try:
        result = _train(cfg, dd, device, corruption, say)
        completed = not result.get("interrupted")
        return result
    finally:
        dist.finish(dd, clean=completed)


def _train(cfg: Config, dd: dist.Dist, device: torch.device, corruption, say) -> dict:
    out = Path(cfg.out)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest kernels

    # data: CIFAR-10 train, last val_size held out for validation; photo crops with --data-mix patches|mix
    images, _ = cifar.load_split(Path(cfg.data) if cfg.data else None, "train")
    if cfg.limit:
        images = images[: cfg.limit + cfg.val_size]
    if len(images) <= cfg.val_size:
        raise UserError(f"{len(images)} training images leave none after holding out --val-size {cfg.val_size}")
    train_x = torch.from_numpy(images[: len(images) - cfg.val_size]).to(device)  # uint8, (N, 32, 32, 3)
    val_x = images[len(images) - cfg.val_size:]
    cifar_x = None if cfg.data_mix == "patches" else train_x
    photos = None if cfg.data_mix == "cifar" else load_patch_images(patch_dirs(cfg.patch_dirs, cfg.data),
                                                                    cfg.patch_size)
    n_cifar = 0 if cifar_x is None else len(cifar_x)
    n_patches = 0 if photos is None else (cfg.patches or max(1, len(train_x) // 4))

    # models
    try:
        model = create_model(cfg.model, **model_args(cfg.model_args))
    except (TypeError, ValueError) as e:
        raise UserError(f"--model-args do not fit {cfg.model}: {e}") from None
    if cfg.factor == 1 and model_scale(model) > 1:
        raise UserError(f"--factor 1 is the same-size task, which {cfg.model} (a 2x model) cannot learn; "
                        f"use --model enhance or seed-student, or --factor 2")
    if cfg.init and not cfg.resume:
        start, _ = checkpoint.load(Path(cfg.init), expect=cfg.model)
        try:
            model.load_state_dict(start.state_dict())
        except RuntimeError:
            raise UserError(f"--init {cfg.init}: its weights do not fit {cfg.model} with these --model-args") from None
    teacher = None
    if cfg.alpha > 0:
        teacher, _ = checkpoint.load(Path(cfg.teacher), overrides=model_args(cfg.teacher_args))
        teacher.requires_grad_(False)
        teacher.to(device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = Plan.steps_per_epoch(cfg.batch_size, n_cifar, n_patches)
    total_steps = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))
    history: list[dict] = []
    start_epoch, start_step = 0, 0

    ckpt_path = out / "checkpoint.pt"
    if cfg.resume:
        if not ckpt_path.exists():
            raise UserError(f"--resume: no checkpoint at {ckpt_path}; start without --resume")
        saved, ck = checkpoint.load(ckpt_path, expect=cfg.model)
        model.load_state_dict(saved.state_dict())  # keep the object the optimizer holds
        state = ck.get("train_state") or {}
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, start_step = state["epoch"], state.get("step", 0)
        history = list(state.get("history", []))
        if dd.main:
            log.info("resumed %s at epoch %d, step %d", ckpt_path, start_epoch + 1, start_step)
    net = dist.wrap(model, dd, device)  # the model itself in one process

    def save(epoch: int, path: Path = ckpt_path, final: bool = False, step: int = 0) -> None:
        """``epoch`` epochs done plus ``step`` batches of the next (a Ctrl-C mid-epoch). Rank 0 only."""
        if not dd.main:
            return
        metrics = history[-1] if history else {}
        state = None if final else {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                    "epoch": epoch, "step": step, "history": history}
        checkpoint.save(path, model, config=dataclasses.asdict(cfg), metrics=metrics, train_state=state)
        atomic_write(out / "metrics.json", json.dumps({"config": dataclasses.asdict(cfg), "history": history}, indent=2))

    extra = (f" + {n_patches:,} crops of {len(photos)} photos per epoch" if photos is not None else "") + \
        ("" if corruption.is_clean else f", inputs corrupted: {corruption}") + \
        (sequence.describe(cfg.sequence) if cfg.sequence else "") + \
        (f", {dd.world} processes" if dd.enabled else "")
    say(f"{cfg.model}: {count_parameters(model):,} parameters, {n_cifar:,} training / {len(val_x):,} "
        f"validation images{extra}, epochs {start_epoch + 1}..{cfg.epochs} -> {out}")
    targets = None
    if teacher is not None and not cfg.rot90 and cifar_x is not None and not corruption.is_random and not cfg.sequence:
        t0 = time.time()
        targets = teacher_targets(teacher, train_x, cfg.factor, cfg.flip, progress=dd.main,
                                  corrupt=None if corruption.is_clean else corruption, workers=cfg.corrupt_workers)
        say(f"teacher outputs for {len(train_x):,} images{' and their mirror images' if cfg.flip else ''}: "
            f"{time.time() - t0:.0f}s")
    if teacher is not None and (targets is None or photos is not None):
        say("the teacher runs at every step" + (" on the photo crops" if targets is not None else ""))
    epoch, step = start_epoch, start_step
    try:
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            # one plan per epoch fixes order, crops and flips up front, so --resume replays
            # the rest of an interrupted epoch exactly (and every rank holds the same plan)
            plan = Plan(epoch, cfg.seed, cfg.batch_size, cifar_x, photos, n_patches, cfg.patch_size, cfg.rot90,
                        device)
            t0, running = time.time(), 0.0
            first = step = start_step if epoch == start_epoch else 0
            bar = tqdm(range(first, steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                       disable=not dd.main)
            for step in bar:
                kind, lo, hi = plan.span(step)
                lo, hi, weight = dist.share(lo, hi, dd)  # the whole batch, weight 1, in one process
                batch = plan.take(kind, lo, hi, cfg.flip)
                x = batch.x
                small, degraded = sequence.pair_function(cfg.sequence, degrade_pair)(
                    x, cfg.factor, corruption, cfg.seed, batch.offset, cfg.corrupt_workers)
                y = net(model_input(model, small, degraded))
                if targets is not None and batch.ids is not None:
                    idx, flip = batch.ids, batch.flips
                    t = targets[0][idx].float()
                    if cfg.flip:
                        t[flip] = targets[1][idx[flip]].float()
                else:
                    with torch.no_grad():
                        t = teacher(model_input(teacher, small, degraded)) if teacher is not None else None
                loss = distillation_loss(y, t, x, cfg.alpha, cfg.beta)
                if cfg.ssim_weight:
                    loss = loss + cfg.ssim_weight * (1.0 - ssim(y, x))
                if dd.enabled:
                    loss = loss * weight
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                running += loss.item() / dd.world
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{running / (step - first + 1):.5f}")
            step = steps_per_epoch  # a Ctrl-C during validation resumes at validation
            running = dist.total(running, dd, device)
            model.eval()
            if not dd.main:
                continue
            val = score_arrays(OnDevice(model, device), val_x, cfg.factor)
            loss = running / (steps_per_epoch - first) if first < steps_per_epoch else None
            entry = {"epoch": epoch + 1, "loss": loss, "val_ssim": val["ssim"], "val_psnr": val["psnr"]}
            if not corruption.is_clean:
                valc = score_arrays(OnDevice(model, device), val_x, cfg.factor, corrupt=corruption, seed=cfg.seed)
                entry.update(val_ssim_corrupt=valc["ssim"], val_psnr_corrupt=valc["psnr"])
            history.append({**entry, "seconds": round(time.time() - t0, 1)})
            save(epoch + 1)
            under = "" if corruption.is_clean else f"  under {corruption}: {valc['ssim']:.4f}"
            print(f"epoch {epoch + 1}/{cfg.epochs}  loss {history[-1]['loss'] or float('nan'):.5f}  val SSIM {val['ssim']:.4f}  "
                  f"PSNR {val['psnr']:.2f}{under}  ({history[-1]['seconds']:.0f}s)", flush=True)
    except KeyboardInterrupt:
        save(epoch, step=step)
        say(f"\ninterrupted: state saved to {ckpt_path}; continue with the same command plus --resume")
        return {"interrupted": True}
    model.cpu()
    if dd.main:
        if hasattr(model, "collapse"):  # ship the plain-conv form: same outputs, no training-only branches
            model.collapse()
        save(cfg.epochs, out / "model.pt", final=True)
        print(f"done: {out / 'model.pt'}")
    return history[-1] if history else {}


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # SIGTERM (kill, systemd, a closing terminal) and SIGINT save like Ctrl-C does, also in
    # background jobs, whose shell starts them with SIGINT ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = train(parse(sys.argv[1:] if argv is None else argv))
    except UserError as e:
        if dist.from_env().main:  # under torchrun: once, not once per process
            print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the training loop took over (loading data, the teacher's outputs)
        print("interrupted before the first step: nothing was saved", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 130 if result.get("interrupted") else 0
