"""CIFAR-10 in the official "python version" layout, read without trusting pickle.

The batches are python2 pickles of ``{data: uint8 (N, 3072), labels: [int], ...}``.
They are loaded with a restricted unpickler that can only rebuild numpy arrays
and plain containers, so a tampered file cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.errors import UserError
from ..core.files import existing_file
from ..core.paths import cache_home

log = logging.getLogger(__name__)

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)

# Only what numpy's ndarray pickles reference (numpy 1.x and 2.x module names);
# _codecs.encode is how Python 3 writes bytes into a protocol-2 pickle (str -> bytes, nothing else).
_ALLOWED = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_pickle(path: Path) -> dict:
    """Load one batch file as a dict with ``str`` keys; bytes or str key styles both work.

    Raises:
        UserError: the file is missing, truncated, not a pickle, or references
            anything other than numpy arrays and plain containers.
    """
    if not existing_file(path, "CIFAR-10 file"):  # a FIFO in its place would block the read for ever
        raise UserError(f"cannot read CIFAR-10 file {path}: No such file or directory")
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"cannot read CIFAR-10 file {path}: {e.strerror}") from None
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise UserError(f"{path} is not a CIFAR-10 batch ({e}); re-download it") from None
    except Exception as e:  # truncated or foreign bytes raise many types
        raise UserError(f"{path} is truncated or not a CIFAR-10 batch ({type(e).__name__}); re-download it") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path} is not a CIFAR-10 batch (top level is {type(obj).__name__}, not dict)")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch.

    Returns:
        images: ``(N, 32, 32, 3)`` uint8 RGB, values 0..255.
        labels: ``(N,)`` int64.
    """
    d = load_pickle(path)
    data, labels = d.get("data"), d.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise UserError(f"{path} is not a CIFAR-10 batch: 'data' must be uint8 of shape (N, 3072)")
    if labels is None or len(labels) != data.shape[0]:
        raise UserError(f"{path} is not a CIFAR-10 batch: 'labels' missing or of the wrong length")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def default_root() -> Path:
    """Per-user cache folder: ``$XDG_CACHE_HOME/vcam-sharpen`` (``~/.cache/vcam-sharpen``)."""
    return cache_home()


def batch_folder(root: Path | None) -> Path:
    """The batch folder for ``root``: ``root`` itself if it holds the batches, else ``root/cifar-10-batches-py``."""
    root = Path(root) if root is not None else default_root()
    if (root / "test_batch").exists() or root.name == FOLDER:
        return root
    return root / FOLDER


def load_split(root: Path | None, split: str, download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load ``split`` ("train" or "test") as ``(N, 32, 32, 3)`` uint8 images and labels.

    If the files are missing and ``download`` is true, fetch the official archive
    into the parent of the batch folder first.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = batch_folder(root)
    names = TRAIN_FILES if split == "train" else TEST_FILES
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        if root is not None and not Path(root).exists():  # a typo: never create it, never download into it
            raise UserError(f"--data {root} does not exist; pass the folder that holds {FOLDER} (or its batches)")
        present = [n for n in (*TRAIN_FILES, *TEST_FILES) if (folder / n).exists()]
        if not download or present:  # a partial copy: downloading would not fix what is there
            raise UserError(f"CIFAR-10 in {folder} lacks {', '.join(missing)}; put "
                            f"{'them' if len(missing) > 1 else 'it'} there (from {URL})")
        fetch(folder.parent, names=missing)
    parts = [load_batch(folder / n) for n in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(parent: Path, url: str = URL, md5: str = MD5, names: tuple[str, ...] = TEST_FILES) -> Path:
    """Download and unpack the official archive into ``parent/cifar-10-batches-py``.

    Raises:
        UserError: offline, or the archive fails its md5 check; the message names
            the folder to put the files in by hand.
    """
    parent = Path(parent)
    target = parent / FOLDER
    hint = (f"download {url} by hand and unpack it so that {target} holds {', '.join(names)}, "
            f"or pass --data DIR")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {parent} ({e.strerror}); {hint}") from None
    log.info("downloading CIFAR-10 from %s", url)
    with tempfile.TemporaryDirectory(dir=parent) as tmp:
        archive = Path(tmp) / "cifar-10-python.tar.gz"
        try:
            with urllib.request.urlopen(url, timeout=30) as r, open(archive, "wb") as f:
                total = int(r.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc="CIFAR-10") as bar:
                    for chunk in iter(lambda: r.read(1 << 16), b""):
                        f.write(chunk)
                        bar.update(len(chunk))
        except OSError as e:
            raise UserError(f"CIFAR-10 is not in {target} and could not be downloaded ({e}); {hint}") from None
        if _md5(archive) != md5:
            raise UserError(f"downloaded CIFAR-10 archive failed its md5 check; {hint}")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        shutil.move(str(Path(tmp) / FOLDER), str(target))
    return target
