"""Helpers for the web tests: a tiny study made from a generated picture, test clients behind the guard."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from starlette.testclient import TestClient

from vcam_sharpen.quality import mos_study

PORT = 8717
BASE = f"http://127.0.0.1:{PORT}"


def picture(path: Path, size: tuple[int, int] = (96, 64), seed: int = 0) -> Path:
    """A smooth random picture (structure for the methods to work on)."""
    rng = np.random.default_rng(seed)
    img = cv2.resize((rng.random((8, 12, 3)) * 255).astype(np.uint8), size, interpolation=cv2.INTER_CUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def make_study(root: Path, methods: str = "bilinear,unsharp,student", picture_made: bool = False,
               size: tuple[int, int] = (96, 64)) -> tuple[Path, dict]:
    """A study of one generated picture of ``size`` (or of what ``root/pictures`` holds, ``picture_made``): the
    reference, each method and the trap (5 stimuli by default)."""
    if not picture_made:
        picture(root / "pictures" / "test.png", size)
    folder = root / "study"
    manifest = mos_study.prepare(out=folder, video=None, set5=None, images=[root / "pictures"], methods=methods)
    return folder, manifest


def client(app) -> TestClient:
    """A client whose requests carry the Host the guard expects (``127.0.0.1:8717``)."""
    return TestClient(app, base_url=BASE, raise_server_exceptions=False)


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
