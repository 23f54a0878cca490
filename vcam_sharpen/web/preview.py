"""The panel's live before/after preview, made in the panel's own thread from frames the pipeline already made.

The pipeline's worker leaves a reference to its last ``(input, output)`` pair in
``pipeline.preview`` (no copy, no work); :class:`PreviewHub`'s thread looks at it a few times a
second, and only while a browser watches: it makes the *before* picture (what the link would
give without sharpening: the same mode run without a model, :class:`~vcam_sharpen.frames.sharpen.Sharpener`
with no engine), scales both down (or crops their centre at 1:1) and JPEG-encodes them once
for every viewer. The worker and the publisher never encode anything and never wait for it.
Browsers get the JPEGs as an MJPEG stream (``multipart/x-mixed-replace``).
"""

from __future__ import annotations

import asyncio
import threading
import time

import cv2
import numpy as np

from ..frames.sharpen import Sharpener

SIDES = ("before", "after")
VIEWS = ("fit", "crop")  # scaled to the preview width, or the centre at 1:1
BOUNDARY = "vcamframe"
MAX_VIEWERS = 8


def _crop(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    fh, fw = frame.shape[:2]
    top, left = max(0, (fh - h) // 2), max(0, (fw - w) // 2)
    return frame[top:top + h, left:left + w]


class PreviewHub:
    """JPEG previews of ``pipeline.preview`` for every viewer, at ``rate`` frames per second at most.

    Args:
        pipeline: anything with ``preview`` (``None`` or ``(input, output)`` BGR frames) and ``sharpener``
            (its ``degrade``/``upscale``/``size`` say how to make the before picture).
        rate: previews per second while somebody watches.
        width: the width of a ``fit`` preview (height by the aspect); also the crop's width.
    """

    def __init__(self, pipeline, rate: float = 4.0, width: int = 640, quality: int = 80) -> None:
        self.pipeline, self.rate, self.width, self.quality = pipeline, float(rate), int(width), int(quality)
        self.closed = False
        self.encoded = 0        # preview pairs made
        self.encode_ms = 0.0    # running mean per pair (before + after, both JPEGs)
        self.cpu_s = 0.0        # CPU time of the preview thread so far
        self._viewers = {v: 0 for v in VIEWS}
        self._wanted = {v: 0.0 for v in VIEWS}  # snapshot requests: make this view for a while
        self._jpeg: dict[tuple[str, str], tuple[int, bytes]] = {}
        self._seen: dict[str, object] = {v: None for v in VIEWS}
        self._plain: Sharpener | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="panel-preview", daemon=True)

    def start(self) -> "PreviewHub":
        self._thread.start()
        return self

    def close(self) -> None:
        self.closed = True
        self._wake.set()
        self._thread.join(timeout=1.0)

    # -- viewers (event-loop side)

    @property
    def viewers(self) -> int:
        return sum(self._viewers.values())

    def connect(self, view: str) -> bool:
        with self._lock:
            if self.viewers >= MAX_VIEWERS:
                return False
            self._viewers[view] += 1
        self._wake.set()
        return True

    def disconnect(self, view: str) -> None:
        with self._lock:
            self._viewers[view] = max(0, self._viewers[view] - 1)

    def latest(self, side: str, view: str) -> tuple[int, bytes | None]:
        return self._jpeg.get((side, view), (0, None))

    def want(self, view: str) -> None:
        """Make ``view`` for the next few seconds though nobody streams it (single snapshots)."""
        self._wanted[view] = time.monotonic() + 3.0
        self._wake.set()

    # -- the preview thread

    def _loop(self) -> None:
        period = 1.0 / self.rate
        cpu0 = time.thread_time()
        last = -period
        while not self.closed:
            now = time.monotonic()
            if now < last + period:  # at most `rate` previews a second, however often woken
                self._wake.wait(last + period - now)
                self._wake.clear()
                continue
            views = [v for v in VIEWS if self._viewers[v] > 0 or self._wanted[v] > now]
            pair = getattr(self.pipeline, "preview", None)
            if not views or pair is None:  # nobody watches: sleep until somebody does
                self._wake.wait(period)
                self._wake.clear()
                continue
            last = now
            for view in views:
                if self._seen[view] is pair:  # nothing new since the last one
                    continue
                t0 = time.perf_counter()
                try:
                    self._make(view, *pair)
                except Exception:  # noqa: BLE001 - a failed preview must not end the thread
                    continue
                self._seen[view] = pair
                ms = (time.perf_counter() - t0) * 1e3
                self.encode_ms = ms if not self.encoded else self.encode_ms + 0.1 * (ms - self.encode_ms)
                self.encoded += 1
            self.cpu_s = time.thread_time() - cpu0

    def before(self, frame: np.ndarray) -> np.ndarray:
        """What the link gives without sharpening, in the pipeline's current mode and output size."""
        s = self.pipeline.sharpener
        key = (s.degrade, s.upscale, s.size)
        p = self._plain
        if p is None or (p.degrade, p.upscale, p.size) != key:
            p = self._plain = Sharpener(None, degrade=s.degrade, upscale=s.upscale, size=s.size)
        return p.process(frame)

    def _make(self, view: str, frame: np.ndarray, out: np.ndarray) -> None:
        pics = {"before": self.before(frame), "after": out}
        h, w = out.shape[:2]
        pw = min(self.width, w)
        ph = max(2, round(h * pw / w))
        for side, img in pics.items():
            if view == "fit":
                small = img if pw == w else cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA)
            else:
                small = _crop(img, pw, min(h, round(pw * 9 / 16)))
            ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if ok:
                seq = self._jpeg.get((side, view), (0, b""))[0] + 1
                self._jpeg[(side, view)] = (seq, buf.tobytes())

    def stats(self) -> dict:
        return {"viewers": self.viewers, "rate": self.rate, "width": self.width, "encoded": self.encoded,
                "encode_ms": round(self.encode_ms, 2), "cpu_s": round(self.cpu_s, 3)}


async def mjpeg(hub: PreviewHub, side: str, view: str):
    """The MJPEG stream of one side: a part per new preview, until the viewer leaves or the hub closes."""
    if not hub.connect(view):
        return
    try:
        last = 0
        while not hub.closed:
            seq, data = hub.latest(side, view)
            if data is not None and seq != last:
                last = seq
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                       .encode() + data + b"\r\n")
            await asyncio.sleep(0.5 / hub.rate)
    finally:
        hub.disconnect(view)
