"""``python -m train unsharp``: pick the unsharp-mask baseline's sigma and amount on training images.

Scores a grid on the last N CIFAR-10 *training* images (never the test set) and
prints the ranking; the winner is what ``vcam_sharpen.core.baselines`` ships.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vcam_sharpen.core.baselines import UnsharpMask
from vcam_sharpen.quality import cifar
from vcam_sharpen.quality.evaluate import score_arrays


def tune_unsharp(images: np.ndarray, sigmas, amounts, factor: int = 2, corrupt: str | None = None) -> list[dict]:
    """Score every (sigma, amount) on ``images`` (``(N, H, W, 3)`` uint8); best SSIM first.

    ``factor=1`` with ``corrupt="soft"`` is the same-size task (``eval --degradation soft``).
    Meant for training images only: picking on the test set would flatter the baseline.
    """
    results = [{"sigma": s, "amount": a, **score_arrays(UnsharpMask(s, a), images, factor, corrupt=corrupt)}
               for s in sigmas for a in amounts]
    return sorted(results, key=lambda r: -r["ssim"])


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m train unsharp``."""
    p = argparse.ArgumentParser(prog="python -m train unsharp", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="", help="CIFAR-10 folder (default: the per-user cache)")
    p.add_argument("--images", type=int, default=5000,
                   help="how many training images, the last N (default: %(default)s)")
    p.add_argument("--sigmas", default="0.5,0.75,1.0,1.25,1.5,2.0",
                   help="comma-separated Gaussian sigmas to try, in pixels (default: %(default)s)")
    p.add_argument("--amounts", default="0.5,1.0,1.5,2.0,2.5,3.0",
                   help="comma-separated amounts to try (default: %(default)s)")
    p.add_argument("--degradation", choices=["2x", "soft"], default="2x",
                   help="2x: the 2x task; soft: the same-size task under the soft webcam preset "
                        "(default: %(default)s)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    soft = args.degradation == "soft"
    images, _ = cifar.load_split(Path(args.data) if args.data else None, "train")
    images = images[-args.images:]
    ranking = tune_unsharp(images, [float(s) for s in args.sigmas.split(",")],
                           [float(a) for a in args.amounts.split(",")], 1 if soft else 2, "soft" if soft else None)
    for r in ranking[:10]:
        print(f"sigma {r['sigma']:<5} amount {r['amount']:<4} SSIM {r['ssim']:.4f}  PSNR {r['psnr']:.2f}")
    best = ranking[0]
    print(f"best on {len(images)} training images: sigma {best['sigma']}, amount {best['amount']}")
    return 0
