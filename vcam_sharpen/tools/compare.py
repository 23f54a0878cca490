"""``vcam-sharpen compare``: one real frame through several models, side by side, as a PNG.

The frame goes through exactly what the daemon runs (:class:`~vcam_sharpen.frames.sharpen.Sharpener`
on the engine :func:`~vcam_sharpen.runtime.engines.create_engine` picks), so the picture shows what a
meeting would see, not the training-time float path. Optionally the frame is first corrupted like a
webcam (:mod:`vcam_sharpen.core.corrupt`, e.g. ``camera`` or ``soft``). A crop, enlarged with
nearest-neighbour pixels, makes noise, grain and edges visible; the README's before/after pictures
come from this command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from ..core import loader
from ..core.corrupt import parse_corruption
from ..core.errors import UserError
from ..core.files import atomic_write
from ..frames.sharpen import Sharpener
from ..io.sources import DemoSource, check_frame_size, check_video_file
from ..runtime.noiseaware import create_any
from ..runtime.tuning import resolve

HEADER = 22  # pixels of label above each panel
DEMO = "demo"  # --source demo: the daemon's built-in demo scene, shipped in the package (works from anywhere)
DEMO_SIZE = (1280, 720)


@dataclass
class Panel:
    label: str
    image: np.ndarray  # (h, w, 3) BGR uint8, the crop at its zoom


def read_frame(source: Path, index: int = 0) -> np.ndarray:
    """Frame ``index`` (0-based) of a video file as ``(H, W, 3)`` BGR uint8; a picture file is its one frame;
    ``demo`` (when no such file exists) is frame ``index`` of the built-in demo scene at 1280x720.

    Raises:
        UserError: a missing or undecodable file, or a video shorter than ``index + 1`` frames.
    """
    source = Path(source)
    if str(source) == DEMO and not source.exists():
        return DemoSource(DEMO_SIZE, paced=False).frame_at(index)
    img = cv2.imread(str(source), cv2.IMREAD_COLOR) if source.is_file() else None
    if img is not None:
        if index:
            raise UserError(f"{source} is a picture: it has only frame 0; drop --frame")
        check_frame_size(img.shape[1], img.shape[0], source)
        return img
    check_video_file(source)
    with av.open(str(source)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return np.ascontiguousarray(frame.to_ndarray(format="bgr24"))
    raise UserError(f"{source} has only {i + 1} frames; pass --frame below {i + 1}")


def parse_crop(text: str | None, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``"X,Y,W,H"`` (pixels) -> a box inside a ``size=(width, height)`` frame; None: the whole frame."""
    width, height = size
    if text is None:
        return 0, 0, width, height
    m = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*", str(text))
    if not m:
        raise UserError(f"--crop {text!r}: give X,Y,WIDTH,HEIGHT in pixels, e.g. 560,120,200,160")
    x, y, w, h = (int(g) for g in m.groups())
    if w < 1 or h < 1 or x + w > width or y + h > height:
        raise UserError(f"--crop {text}: the box must be inside the {width}x{height} frame and not empty; "
                        f"give a smaller box")
    return x, y, w, h


def compare(source: Path, models: str = "none,default", out: Path = Path("compare.png"), degrade: int = 2,
            corrupt: str | None = None, seed: int = 0, index: int = 0, crop: str | None = None,
            zoom: int = 2) -> dict:
    """Write ``out``: the crop of frame ``index`` of ``source`` through each of ``models`` (comma-separated
    names the loader accepts; ``none`` is the picture without a network), left to right, labelled.

    Args:
        degrade: the daemon's mode (1: the frame at its own size; 2: the simulated 2x link).
        corrupt: a corruption spec applied to the frame first (image seed ``[seed, 0]``).
        zoom: nearest-neighbour enlargement of the crop, 1..8.

    Returns:
        ``{"path", "labels", "crop", "frame", "size"}``. Nothing is written when anything fails.
    """
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: give a .png file name")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist; create it first")
    if not 1 <= zoom <= 8:
        raise UserError(f"--zoom {zoom}: use 1 to 8")
    specs = [m.strip() for m in models.split(",") if m.strip()]
    if not specs:
        raise UserError("--models is empty; pass at least one, e.g. --models none,enhance")
    corruption = parse_corruption(corrupt) if corrupt else None
    frame = read_frame(source, index)
    if corruption is not None and not corruption.is_clean:
        rgb = corruption.apply(np.ascontiguousarray(frame[:, :, ::-1]), np.random.default_rng([seed, 0]))
        frame = np.ascontiguousarray(rgb[:, :, ::-1])
    x, y, w, h = parse_crop(crop, (frame.shape[1], frame.shape[0]))
    panels = []
    for spec in specs:
        spec = resolve(spec, size=(frame.shape[1], frame.shape[0]), degrade=degrade).spec
        model = loader.load(spec, task=degrade)
        sharp = Sharpener(create_any(model), degrade=degrade)
        result = sharp.process(frame)[y:y + h, x:x + w]
        label = ("input" if degrade == 1 else "bilinear") if model is None else loader.label(spec)
        panels.append(Panel(label, cv2.resize(result, (w * zoom, h * zoom), interpolation=cv2.INTER_NEAREST)))
    atomic_write(out, _sheet(panels))  # a read-only folder or a full disk: a one-line WriteError
    return {"path": str(out), "labels": [p.label for p in panels], "crop": [x, y, w, h], "frame": index,
            "size": [frame.shape[1], frame.shape[0]]}


def _sheet(panels: list[Panel]) -> bytes:
    """Panels side by side, each under its label, 4 px apart; PNG bytes."""
    h, w = panels[0].image.shape[:2]
    gap = 4
    sheet = np.full((HEADER + h, len(panels) * (w + gap) - gap, 3), 255, np.uint8)
    for i, p in enumerate(panels):
        x0 = i * (w + gap)
        sheet[HEADER:, x0:x0 + w] = p.image
        cv2.putText(sheet, p.label[:40], (x0 + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", sheet)
    if not ok:  # pragma: no cover - PNG encoding of a uint8 image does not fail
        raise UserError("could not encode the comparison as PNG")
    return buf.tobytes()
