"""vcam-sharpen compare: real frames through the daemon's path, side by side; nothing written on a bad input."""

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.tools.compare import HEADER, compare, parse_crop, read_frame


@pytest.fixture
def picture(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (40, 60, 3), np.uint8)
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), img)
    return path, img


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            frame = np.full((48, 64, 3), 60 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_panels_are_the_daemon_outputs_side_by_side(picture, tmp_path):
    path, img = picture
    out = tmp_path / "c.png"
    info = compare(path, "none,seed-student", out, crop="10,5,20,16", zoom=3, degrade=1)
    assert info["labels"] == ["input", "seed-student"] and info["crop"] == [10, 5, 20, 16]
    sheet = cv2.imread(str(out))
    assert sheet.shape == (HEADER + 48, 2 * 60 + 4, 3)
    left = sheet[HEADER:, :60:3][::3]
    assert np.array_equal(left, img[5:21, 10:30])  # the input panel is the frame itself, enlarged
    assert not np.array_equal(sheet[HEADER:, 64::3][::3], left)


def test_video_frames_and_corruption(clip, tmp_path):
    assert read_frame(clip, 2).mean() > read_frame(clip, 0).mean() + 50
    with pytest.raises(UserError, match="only 3 frames"):
        read_frame(clip, 3)
    a = compare(clip, "none", tmp_path / "a.png", corrupt="noise:8", seed=1, degrade=2)
    assert a["labels"] == ["bilinear"] and a["size"] == [64, 48]


@pytest.mark.parametrize("kwargs, match", [
    ({"crop": "50,30,20,20"}, "inside"), ({"crop": "1,2,3"}, "X,Y,WIDTH,HEIGHT"), ({"zoom": 9}, "1 to 8"),
    ({"models": " , "}, "empty"), ({"models": "nope"}, "unknown model"), ({"corrupt": "fog"}, "corruption"),
    ({"models": "student", "degrade": 1}, "is a 2x model"), ({"index": 1}, "only frame 0"),
])
def test_bad_inputs_write_nothing(picture, tmp_path, kwargs, match):
    path, _ = picture
    out = tmp_path / "x.png"
    with pytest.raises(UserError, match=match):
        compare(path, **{"models": "none", "out": out, **kwargs})
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["frame.png"]


def test_bad_outputs_and_sources(picture, tmp_path):
    path, _ = picture
    with pytest.raises(UserError, match=".png"):
        compare(path, "none", tmp_path / "x.jpg")
    with pytest.raises(UserError, match="does not exist"):
        compare(path, "none", tmp_path / "no" / "x.png")
    with pytest.raises(UserError, match="does not exist"):
        compare(tmp_path / "missing.mp4", "none", tmp_path / "x.png")
    assert parse_crop(None, (8, 6)) == (0, 0, 8, 6)
    assert not Path(tmp_path / "x.png").exists()
