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

from vcam_sharpen import checkpoint, cifar
from vcam_sharpen.errors import UserError
from vcam_sharpen.evaluate import score_arrays
from vcam_sharpen.losses import distillation_loss, ssim
from vcam_sharpen.models import KERNELS, count_parameters, create_model, list_models
from vcam_sharpen.restore import degrade_pair, model_input

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
    seed: int = 0
    threads: int = 0  # torch threads; 0: torch's default
    device: str = "cpu"  # cpu | cuda (cuda runs are fast, not bit-reproducible)
    resume: bool = False


def parse(argv: list[str]) -> Config:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n\n")[0])
    p.add_argument("role", choices=["teacher", "student"])
    defaults = Config()
    for f in dataclasses.fields(Config):
        if f.name == "role":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            p.add_argument(flag, type=type(default), default=None, metavar=f.name.upper())
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

    Values are numbers, or kernel lists like ``3-d3-1`` (:data:`~vcam_sharpen.models.KERNELS`, kept as text).
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
    if cfg.model not in list_models():
        raise UserError(f"unknown model {cfg.model!r}; choose from {', '.join(list_models())}")
    if cfg.role == "teacher" and cfg.alpha:
        raise UserError("a teacher trains on the ground truth only: leave --alpha at 0")
    if cfg.role == "student" and cfg.alpha > 0 and not cfg.teacher:
        raise UserError("--alpha > 0 distils from a teacher: pass --teacher PATH (or --alpha 0 for no distillation)")
    if cfg.alpha < 0 or cfg.beta < 0 or cfg.alpha + cfg.beta <= 0:
        raise UserError("--alpha and --beta must be >= 0 and not both 0")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise UserError("--epochs and --batch-size must be >= 1 and --lr > 0")


@torch.no_grad()
def teacher_targets(teacher: nn.Module, images: torch.Tensor, factor: int, mirrored: bool,
                    batch_size: int = 256) -> list[torch.Tensor]:
    """The teacher's output for every training image, and for its mirror image with ``mirrored``.

    Computed once instead of at every step: a deep teacher costs far more than the
    student it teaches (on two CPU cores, hours over a run). Stored as float16 (half the
    memory; far below the 1/255 steps of the frames), ``(N, 3, H, W)`` each, on the
    images' device. Random 90-degree turns would need eight copies, so they are not cached.
    """
    outs = []
    for flip in (False, True) if mirrored else (False,):
        parts = []
        desc = "teacher outputs" + (" (mirrored)" if flip else "")
        for i in tqdm(range(0, len(images), batch_size), desc=desc, leave=False):
            x = images[i:i + batch_size].permute(0, 3, 1, 2).float().div_(255.0)
            if flip:
                x = x.flip(-1)
            small, degraded = degrade_pair(x, factor)
            parts.append(teacher(model_input(teacher, small, degraded)).half())
        outs.append(torch.cat(parts))
    return outs


class OnDevice(nn.Module):
    """Runs ``model`` on its device for callers that pass and expect CPU tensors (validation)."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.model, self.device = model, device
        self.input_scale = getattr(model, "input_scale", 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.device)).float().cpu()


def train(cfg: Config) -> dict:
    check(cfg)
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device not in ("cpu", "cuda") or (cfg.device == "cuda" and not torch.cuda.is_available()):
        raise UserError(f"--device {cfg.device}: use cpu, or cuda on a machine with a CUDA GPU and a CUDA build of torch")
    device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest kernels

    # data: CIFAR-10 train, last val_size held out for validation
    images, _ = cifar.load_split(Path(cfg.data) if cfg.data else None, "train")
    if cfg.limit:
        images = images[: cfg.limit + cfg.val_size]
    if len(images) <= cfg.val_size:
        raise UserError(f"{len(images)} training images leave none after holding out --val-size {cfg.val_size}")
    train_x = torch.from_numpy(images[: len(images) - cfg.val_size]).to(device)  # uint8, (N, 32, 32, 3)
    val_x = images[len(images) - cfg.val_size:]

    # models
    try:
        model = create_model(cfg.model, **model_args(cfg.model_args))
    except (TypeError, ValueError) as e:
        raise UserError(f"--model-args do not fit {cfg.model}: {e}") from None
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
    steps_per_epoch = math.ceil(len(train_x) / cfg.batch_size)
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
        log.info("resumed %s at epoch %d, step %d", ckpt_path, start_epoch + 1, start_step)

    def save(epoch: int, path: Path = ckpt_path, final: bool = False, step: int = 0) -> None:
        """``epoch`` epochs done plus ``step`` batches of the next (a Ctrl-C mid-epoch)."""
        metrics = history[-1] if history else {}
        state = None if final else {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                    "epoch": epoch, "step": step, "history": history}
        checkpoint.save(path, model, config=dataclasses.asdict(cfg), metrics=metrics, train_state=state)
        (out / "metrics.json").write_text(json.dumps({"config": dataclasses.asdict(cfg), "history": history}, indent=2))

    print(f"{cfg.model}: {count_parameters(model):,} parameters, {len(train_x):,} training / {len(val_x):,} "
          f"validation images, epochs {start_epoch + 1}..{cfg.epochs} -> {out}")
    targets = None
    if teacher is not None and not cfg.rot90:
        t0 = time.time()
        targets = teacher_targets(teacher, train_x, cfg.factor, cfg.flip)
        print(f"teacher outputs for {len(train_x):,} images{' and their mirror images' if cfg.flip else ''}: "
              f"{time.time() - t0:.0f}s")
    epoch, step = start_epoch, start_step
    try:
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            # one generator per epoch fixes order and flips up front, so --resume replays
            # the rest of an interrupted epoch exactly
            gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
            order = torch.randperm(len(train_x), generator=gen).to(device)
            flips = (torch.rand(len(train_x), generator=gen) < 0.5).to(device)
            turns = torch.randint(0, 4, (len(train_x),), generator=gen).to(device) if cfg.rot90 else None
            t0, running = time.time(), 0.0
            first = step = start_step if epoch == start_epoch else 0
            bar = tqdm(range(first, steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False)
            for step in bar:
                sl = slice(step * cfg.batch_size, (step + 1) * cfg.batch_size)
                x = train_x[order[sl]].permute(0, 3, 1, 2).float().div_(255.0)
                if cfg.flip:
                    flip = flips[sl]
                    x[flip] = x[flip].flip(-1)
                if turns is not None:
                    for k in (1, 2, 3):
                        sel = turns[sl] == k
                        x[sel] = torch.rot90(x[sel], k, dims=(-2, -1))
                small, degraded = degrade_pair(x, cfg.factor)
                y = model(model_input(model, small, degraded))
                if targets is not None:
                    idx = order[sl]
                    t = targets[0][idx].float()
                    if cfg.flip:
                        t[flip] = targets[1][idx[flip]].float()
                else:
                    with torch.no_grad():
                        t = teacher(model_input(teacher, small, degraded)) if teacher is not None else None
                loss = distillation_loss(y, t, x, cfg.alpha, cfg.beta)
                if cfg.ssim_weight:
                    loss = loss + cfg.ssim_weight * (1.0 - ssim(y, x))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                running += loss.item()
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{running / (step - first + 1):.5f}")
            step = steps_per_epoch  # a Ctrl-C during validation resumes at validation
            model.eval()
            val = score_arrays(OnDevice(model, device), val_x, cfg.factor)
            loss = running / (steps_per_epoch - first) if first < steps_per_epoch else None
            history.append({"epoch": epoch + 1, "loss": loss, "val_ssim": val["ssim"], "val_psnr": val["psnr"],
                            "seconds": round(time.time() - t0, 1)})
            save(epoch + 1)
            print(f"epoch {epoch + 1}/{cfg.epochs}  loss {history[-1]['loss'] or float('nan'):.5f}  val SSIM {val['ssim']:.4f}  "
                  f"PSNR {val['psnr']:.2f}  ({history[-1]['seconds']:.0f}s)", flush=True)
    except KeyboardInterrupt:
        save(epoch, step=step)
        print(f"\ninterrupted: state saved to {ckpt_path}; continue with the same command plus --resume")
        return {"interrupted": True}
    model.cpu()
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
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 130 if result.get("interrupted") else 0
