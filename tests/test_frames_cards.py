"""The placeholder card: the last picture dimmed (or dark grey) with a message, at the output size."""

import numpy as np

from vcam_sharpen.frames.cards import placeholder


def test_placeholder_dims_last_frame_and_writes_message():
    last = np.full((720, 1280, 3), 210, np.uint8)
    ph = placeholder(last, (640, 360), "camera unavailable")
    assert ph.shape == (360, 640, 3) and ph.dtype == np.uint8
    assert np.median(ph) == 210 // 3  # dimmed
    assert (ph == 255).any()  # white text
    assert last.min() == 210  # the last picture itself is untouched


def test_placeholder_without_a_picture_is_dark_grey_and_keeps_long_messages_inside():
    ph = placeholder(None, (320, 240), "starting")
    assert ph.shape == (240, 320, 3) and np.median(ph) == 32
    long = placeholder(None, (160, 120), "a very long message that would not fit on such a small frame at all")
    assert long.shape == (120, 160, 3)
    text = np.argwhere(long.min(axis=2) > 100)  # the (anti-aliased) white letters
    assert len(text) and text[:, 1].min() > 0 and text[:, 1].max() < 159  # shrunk to fit the width


def test_placeholder_of_a_differently_shaped_picture_is_letterboxed():
    last = np.full((480, 640, 3), 180, np.uint8)  # 4:3 picture, 16:9 output
    ph = placeholder(last, (1280, 720), "x")
    assert ph.shape == (720, 1280, 3)
    assert ph[360, 5].tolist() == [0, 0, 0] and ph[100, 640].tolist() == [60, 60, 60]
