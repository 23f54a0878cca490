"""Evaluation image sets: CIFAR-10's test batch, Set5's folder layout, any folder of images."""

import numpy as np
import pytest
from skimage.io import imsave

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.quality.datasets import IMAGE_SUFFIXES, load_eval_set, read_folder


def test_cifar10_test_batch_with_a_limit(tiny_cifar):
    x = load_eval_set("cifar10", tiny_cifar)
    assert x.shape == (30, 32, 32, 3) and x.dtype == np.uint8
    assert load_eval_set("cifar10", tiny_cifar, limit=7).shape == (7, 32, 32, 3)


def test_a_folder_of_images_sorted_and_made_rgb(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (18, 16), dtype=np.uint8)
    rgba = rng.integers(0, 256, (16, 17, 4), dtype=np.uint8)
    imsave(tmp_path / "b.png", rgb)
    imsave(tmp_path / "a.png", grey, check_contrast=False)
    imsave(tmp_path / "c.PNG", rgba)
    (tmp_path / "notes.txt").write_text("not an image")
    images = read_folder(tmp_path)
    assert [i.shape for i in images] == [(18, 16, 3), (20, 24, 3), (16, 17, 3)]  # a, b, c
    assert np.array_equal(images[0][..., 2], grey) and np.array_equal(images[1], rgb)
    assert np.array_equal(images[2], rgba[..., :3]) and all(i.flags.c_contiguous for i in images)
    assert len(load_eval_set(str(tmp_path), None, limit=2)) == 2
    assert ".png" in IMAGE_SUFFIXES and ".txt" not in IMAGE_SUFFIXES


def test_set5_is_found_in_its_usual_places(tmp_path):
    folder = tmp_path / "sr" / "set5"
    folder.mkdir(parents=True)
    imsave(folder / "baby.png", np.full((20, 20, 3), 9, np.uint8), check_contrast=False)
    assert [i.shape for i in load_eval_set("set5", tmp_path)] == [(20, 20, 3)]
    with pytest.raises(UserError, match="Set5 not found"):
        load_eval_set("set5", tmp_path / "sr" / "elsewhere")


@pytest.mark.parametrize("case, words", [("empty", "no images"), ("tiny", "at least 16x16"),
                                         ("16-bit", "only 8-bit"), ("broken", "cannot read image")])
def test_bad_folders_are_one_line_errors(tmp_path, case, words):
    if case == "tiny":
        imsave(tmp_path / "x.png", np.zeros((8, 8, 3), np.uint8), check_contrast=False)
    elif case == "16-bit":
        import cv2

        assert cv2.imwrite(str(tmp_path / "x.png"), np.full((20, 20), 1000, np.uint16))
    elif case == "broken":
        (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match=words) as e:
        read_folder(tmp_path)
    assert "\n" not in str(e.value)


def test_unknown_dataset(tmp_path):
    with pytest.raises(UserError, match="use cifar10, set5, an existing folder of images or a video file"):
        load_eval_set("imagenet", tmp_path)


def test_a_video_gives_frames_spread_over_the_clip(tmp_path):
    import cv2

    from vcam_sharpen.quality.datasets import read_video

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for k in range(60):
        writer.write(np.full((48, 64, 3), 4 * k, np.uint8))
    writer.release()
    frames = read_video(path, count=6)
    assert len(frames) == 6 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    means = [f.mean() for f in frames]
    assert means == sorted(means) and means[-1] - means[0] > 150  # from the start to the end of the clip
    assert len(load_eval_set(str(path), None)) == 24
