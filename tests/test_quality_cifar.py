import io
import os
import pickle
import urllib.error

import numpy as np
import pytest

from conftest import requires_data, smooth_images, write_batch, CIFAR_DIR
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.quality import cifar


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_reads_both_key_styles(tmp_path, bytes_keys):
    imgs = smooth_images(5)
    write_batch(tmp_path / "b", imgs, [1, 2, 3, 4, 5], bytes_keys=bytes_keys)
    got, labels = cifar.load_batch(tmp_path / "b")
    assert got.shape == (5, 32, 32, 3) and got.dtype == np.uint8
    assert np.array_equal(got, imgs)
    assert labels.tolist() == [1, 2, 3, 4, 5]


def test_splits_from_a_folder_or_its_parent(tiny_cifar):
    x, y = cifar.load_split(tiny_cifar, "train", download=False)
    assert x.shape == (200, 32, 32, 3) and len(y) == 200
    x, _ = cifar.load_split(tiny_cifar.parent, "test", download=False)
    assert x.shape == (30, 32, 32, 3)


def test_truncated_batch_is_one_line_error(tmp_path):
    write_batch(tmp_path / "b", smooth_images(3), [0, 1, 2])
    raw = (tmp_path / "b").read_bytes()
    (tmp_path / "b").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UserError, match="truncated"):
        cifar.load_batch(tmp_path / "b")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b").write_bytes(pickle.dumps({"data": _Evil()}, protocol=2))
    with pytest.raises(UserError, match="refusing"):
        cifar.load_batch(tmp_path / "b")
    assert not (tmp_path / "pwned").exists()


def test_foreign_file_is_refused(tmp_path):
    (tmp_path / "b").write_bytes(b"PNG not a pickle at all")
    with pytest.raises(UserError):
        cifar.load_batch(tmp_path / "b")
    (tmp_path / "c").write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}))
    with pytest.raises(UserError, match="3072"):
        cifar.load_batch(tmp_path / "c")


def test_missing_files_without_download(tmp_path):
    with pytest.raises(UserError, match=str(tmp_path)):
        cifar.load_split(tmp_path, "test", download=False)


def test_offline_download_names_the_folder(tmp_path, monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(cifar.urllib.request, "urlopen", offline)
    with pytest.raises(UserError) as e:
        cifar.load_split(tmp_path, "test")
    assert str(tmp_path / "cifar-10-batches-py") in str(e.value)
    assert "\n" not in str(e.value)


def test_download_with_wrong_md5_is_refused(tmp_path, monkeypatch):
    class Resp(io.BytesIO):
        headers = {"Content-Length": "5"}

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(cifar.urllib.request, "urlopen", lambda *a, **k: Resp(b"hello"))
    with pytest.raises(UserError, match="md5"):
        cifar.fetch(tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists()


@requires_data
def test_real_test_batch():
    x, y = cifar.load_split(CIFAR_DIR, "test", download=False)
    assert x.shape == (10000, 32, 32, 3) and sorted(set(y.tolist())) == list(range(10))


def test_batch_folder_is_the_folder_or_its_child(tiny_cifar, tmp_path, monkeypatch):
    assert cifar.batch_folder(tiny_cifar) == tiny_cifar  # holds the batches
    assert cifar.batch_folder(tiny_cifar.parent) == tiny_cifar  # their parent
    assert cifar.batch_folder(tmp_path / "cifar-10-batches-py" / "..") == tmp_path / "cifar-10-batches-py" / ".." \
        / "cifar-10-batches-py"
    empty = tmp_path / "empty" / "cifar-10-batches-py"
    assert cifar.batch_folder(empty) == empty  # named like the batch folder: used as it is
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cifar.default_root() == tmp_path / "cache" / "vcam-sharpen"
    assert cifar.batch_folder(None) == tmp_path / "cache" / "vcam-sharpen" / "cifar-10-batches-py"
    with pytest.raises(ValueError):
        cifar.load_split(tiny_cifar, "validation")
