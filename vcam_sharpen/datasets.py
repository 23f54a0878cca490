"""Evaluation image sets: the CIFAR-10 test set, Set5, or any folder of images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import cifar
from .errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def read_folder(folder: Path) -> list[np.ndarray]:
    """Every image in ``folder`` (sorted by name) as ``(H, W, 3)`` uint8 RGB."""
    from skimage.io import imread

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    images = []
    for p in files:
        try:
            img = imread(p)
        except Exception as e:
            raise UserError(f"cannot read image {p}: {type(e).__name__}") from None
        if img.dtype != np.uint8:
            raise UserError(f"{p}: only 8-bit images are supported (got {img.dtype})")
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        images.append(np.ascontiguousarray(img[..., :3]))
    return images


def _set5_folder(data: Path | None) -> Path:
    root = Path(data) if data is not None else cifar.default_root()
    for cand in (root / "sr" / "set5", root / "set5", root):
        if cand.is_dir() and any(p.suffix.lower() == ".png" for p in cand.iterdir()):
            return cand
    raise UserError(f"Set5 not found under {root}: pass --data DIR where DIR/sr/set5 or DIR/set5 holds its PNGs")


def load_eval_set(dataset: str, data: Path | None, limit: int | None = None) -> np.ndarray | list[np.ndarray]:
    """Ground-truth images for ``dataset`` ("cifar10", "set5" or a folder path).

    Returns ``(N, 32, 32, 3)`` uint8 for CIFAR-10, else a list of ``(H, W, 3)`` uint8 arrays.
    """
    if dataset == "cifar10":
        images, _ = cifar.load_split(data, "test")
    elif dataset == "set5":
        images = read_folder(_set5_folder(data))
    elif Path(dataset).is_dir():
        images = read_folder(Path(dataset))
    else:
        raise UserError(f"--dataset {dataset!r}: use cifar10, set5 or an existing folder of images")
    return images[:limit] if limit else images
