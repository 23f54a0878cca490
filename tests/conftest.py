"""Shared fixtures: tiny generated CIFAR-10 batches and the optional real data beside the checkout."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CIFAR_DIR = SHARED_DATA / "cifar-10-batches-py"

requires_data = pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason="../shared/data is not beside the checkout")


def write_batch(path: Path, images: np.ndarray, labels: list[int], bytes_keys: bool = True) -> None:
    """Write ``(N, 32, 32, 3)`` uint8 images in the official python-batch layout."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    d = {"batch_label": "tiny", "labels": list(labels), "data": data, "filenames": [f"{i}.png" for i in range(len(images))]}
    if bytes_keys:
        d = {k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in d.items()}
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=2)


def smooth_images(n: int, seed: int = 0, size: int = 32) -> np.ndarray:
    """Images with real structure (blurred noise), so restoration has something to learn."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, size // 4, size // 4, 3))
    x = np.repeat(np.repeat(x, 4, axis=1), 4, axis=2)
    return (x * 255).astype(np.uint8)


@pytest.fixture
def tiny_cifar(tmp_path: Path) -> Path:
    """A CIFAR-10 folder with 5 train batches of 40 images and a test batch of 30 (mixed key styles)."""
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for i in range(1, 6):
        write_batch(root / f"data_batch_{i}", smooth_images(40, seed=i), [i % 10] * 40, bytes_keys=i % 2 == 0)
    write_batch(root / "test_batch", smooth_images(30, seed=99), list(range(30)), bytes_keys=True)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane"] * 10, b"num_vis": 3072}, f, protocol=2)
    return root


@pytest.fixture
def onnx_cache(tmp_path, monkeypatch) -> Path:
    """Keep exported graphs out of the real per-user cache; returns the graphs' folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "vcam-sharpen" / "onnx"


@pytest.fixture
def seed_weights(tmp_path) -> Path:
    """A freshly initialised (seed 0) seed-student checkpoint: the cheapest real .pt file."""
    import torch

    from vcam_sharpen.core import checkpoint
    from vcam_sharpen.core.models import create_model

    torch.manual_seed(0)
    return checkpoint.save(tmp_path / "tiny.pt", create_model("seed-student"))


def interrupt_at(monkeypatch, call: int):
    """Make the ``call``-th loss computation of the training recipe raise KeyboardInterrupt, as
    Ctrl-C would; returns a function that undoes it."""
    from train import recipe

    calls, real = {"n": 0}, recipe.distillation_loss

    def loss(*a, **k):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(recipe, "distillation_loss", loss)
    return lambda: monkeypatch.setattr(recipe, "distillation_loss", real)
