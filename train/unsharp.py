"""``python -m train unsharp``: pick the unsharp-mask baseline's sigma and amount on training images.

Scores a grid on the last N CIFAR-10 *training* images (never the test set) and
prints the ranking; the winner is what ``vcam_sharpen.baselines`` ships.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vcam_sharpen import cifar
from vcam_sharpen.baselines import tune_unsharp


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m train unsharp", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="", help="CIFAR-10 folder (default: the per-user cache)")
    p.add_argument("--images", type=int, default=5000, help="how many training images (the last N)")
    p.add_argument("--sigmas", default="0.5,0.75,1.0,1.25,1.5,2.0")
    p.add_argument("--amounts", default="0.5,1.0,1.5,2.0,2.5,3.0")
    args = p.parse_args(argv)
    images, _ = cifar.load_split(Path(args.data) if args.data else None, "train")
    images = images[-args.images:]
    ranking = tune_unsharp(images, [float(s) for s in args.sigmas.split(",")],
                           [float(a) for a in args.amounts.split(",")])
    for r in ranking[:10]:
        print(f"sigma {r['sigma']:<5} amount {r['amount']:<4} SSIM {r['ssim']:.4f}  PSNR {r['psnr']:.2f}")
    best = ranking[0]
    print(f"best on {len(images)} training images: sigma {best['sigma']}, amount {best['amount']}")
    return 0
