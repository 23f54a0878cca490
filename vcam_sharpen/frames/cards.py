"""The card the virtual camera shows instead of a live picture: starting, camera lost, paused."""

from __future__ import annotations

import cv2
import numpy as np

from .sharpen import fit


def placeholder(last: np.ndarray | None, size: tuple[int, int], message: str) -> np.ndarray:
    """``(h, w, 3)`` BGR uint8 for ``size=(w, h)``: the last picture dimmed (or dark grey), with ``message``.

    Apps keep showing *something*; a browser only lists an ``exclusive_caps`` loopback
    device while it is written, so the daemon never stops writing.
    """
    w, h = size
    frame = (fit(last, size) // 3) if last is not None else np.full((h, w, 3), 32, np.uint8)
    scale = max(0.5, w / 1280 * 1.2)
    thick = max(1, round(2 * scale))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(message, font, scale, thick)
    if tw > w * 0.9:  # long message on a small frame: shrink to fit
        scale *= w * 0.9 / tw
        (tw, th), _ = cv2.getTextSize(message, font, scale, thick)
    org = ((w - tw) // 2, (h + th) // 2)
    cv2.putText(frame, message, org, font, scale, (0, 0, 0), thick + 3, cv2.LINE_AA)
    cv2.putText(frame, message, org, font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return frame
