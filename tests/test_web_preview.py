"""The panel's preview: made in its own thread, only while watched, from the pipeline's last frames."""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
from conftest_daemon import wait_for

from vcam_sharpen.frames.sharpen import Sharpener
from vcam_sharpen.web.preview import BOUNDARY, PreviewHub, mjpeg


class FakePipeline:
    def __init__(self, size=(320, 240)) -> None:
        self.sharpener = Sharpener(None, degrade=2, size=size)
        rng = np.random.default_rng(0)
        frame = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
        self.preview = (frame, frame.copy())


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_nothing_is_encoded_while_nobody_watches():
    hub = PreviewHub(FakePipeline(), rate=20).start()
    try:
        time.sleep(0.3)
        assert hub.encoded == 0 and hub.latest("after", "fit") == (0, None)
    finally:
        hub.close()


def test_a_viewer_gets_before_and_after_at_the_preview_size():
    pipe = FakePipeline()
    hub = PreviewHub(pipe, rate=20, width=160).start()
    try:
        assert hub.connect("fit")
        wait_for(lambda: hub.latest("after", "fit")[1] is not None, timeout=5)
        before, after = (decode(hub.latest(s, "fit")[1]) for s in ("before", "after"))
        assert before.shape == after.shape == (120, 160, 3)
        # before: the same mode without a model (the degraded picture), i.e. smoother than the input
        assert np.abs(before.astype(int) - after.astype(int)).mean() > 10
        seq = hub.latest("after", "fit")[0]
        time.sleep(0.2)
        assert hub.latest("after", "fit")[0] == seq  # the same pipeline frame is never encoded twice
        rng = np.random.default_rng(1)
        pipe.preview = (rng.integers(0, 256, (240, 320, 3), np.uint8),) * 2
        wait_for(lambda: hub.latest("after", "fit")[0] > seq, timeout=5)
        hub.want("crop")
        wait_for(lambda: hub.latest("after", "crop")[1] is not None, timeout=5)
        assert decode(hub.latest("after", "crop")[1]).shape == (90, 160, 3)  # the centre at 1:1
        hub.disconnect("fit")
        assert hub.stats()["viewers"] == 0 and hub.stats()["encoded"] >= 2 and hub.stats()["cpu_s"] >= 0
    finally:
        hub.close()


def test_the_viewer_count_is_capped():
    hub = PreviewHub(FakePipeline())
    assert all(hub.connect("fit") for _ in range(8)) and not hub.connect("crop")


def test_the_mjpeg_stream_sends_parts_and_lets_go_of_the_viewer():
    hub = PreviewHub(FakePipeline(), rate=20).start()

    async def first_part():
        gen = mjpeg(hub, "after", "fit")
        part = await gen.__anext__()
        await gen.aclose()  # the viewer leaves
        return part

    try:
        part = asyncio.run(first_part())
        head, _, body = part.partition(b"\r\n\r\n")
        assert head.startswith(f"--{BOUNDARY}\r\nContent-Type: image/jpeg".encode())
        assert decode(body[:-2]).shape == (240, 320, 3) and hub.viewers == 0
    finally:
        hub.close()
