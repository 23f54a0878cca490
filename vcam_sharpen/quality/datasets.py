"""Evaluation image sets: the CIFAR-10 test set, Set5, any folder of images, or frames of a video."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from ..core.errors import UserError
from ..core.files import existing_file
from ..io.sources import check_video_file
from . import cifar

# The smallest side eval scores: a 4x downscale must leave 4 pixels, and SSIM needs its 7x7 window.
MIN_SIDE = 16
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def read_folder(folder: Path) -> list[np.ndarray]:
    """Every image in ``folder`` (sorted by name) as ``(H, W, 3)`` uint8 RGB."""
    from skimage.io import imread  # lazy: scikit-image takes ~1 s to import

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}; pass a folder of images")
    images = []
    for p in files:
        existing_file(p, "image")  # a FIFO named *.png would block the read for ever
        try:
            img = imread(p)
        except Exception as e:
            raise UserError(f"cannot read image {p} ({type(e).__name__}); remove it or save it again as PNG") from None
        if img.dtype != np.uint8:
            raise UserError(f"{p}: only 8-bit images are supported (got {img.dtype})")
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise UserError(f"{p}: not an RGB or grey image (shape {img.shape}); remove it from the folder")
        if min(img.shape[:2]) < MIN_SIDE:
            raise UserError(f"{p} is {img.shape[1]}x{img.shape[0]}; eval needs images of at least "
                            f"{MIN_SIDE}x{MIN_SIDE} pixels (a 4x degradation and SSIM's 7x7 window); remove it")
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
    elif Path(dataset).is_file():
        images = read_video(Path(dataset))
    else:
        raise UserError(f"--dataset {dataset!r}: use cifar10, set5, an existing folder of images or a video file")
    return images[:limit] if limit else images


VIDEO_FRAMES = 24  # frames scored from a video: spread evenly over the clip


def read_video(path: Path, count: int = VIDEO_FRAMES) -> list[np.ndarray]:
    """``count`` frames spread evenly over a video (e.g. the face clip), as ``(H, W, 3)`` uint8 RGB."""
    check_video_file(path)
    with av.open(str(path)) as container:
        total = container.streams.video[0].frames or count  # 0 when the container does not say
        step = max(1, total // count)
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i % step == 0]
    return frames[:count]
