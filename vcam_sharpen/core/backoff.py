"""Retry timing for things that come back by themselves: a camera, a virtual camera, a source after a pause."""

from __future__ import annotations

import time

MIN_S, MAX_S = 0.5, 5.0


class Backoff:
    """Exponential backoff, ``min_s`` doubling up to ``max_s`` (0.5 s, 1 s, 2 s ... 5 s).

    ``delay`` is the wait before the next try; :meth:`failed` doubles it, :meth:`reset`
    (a success) starts over. :meth:`due` serves callers that poll
    (a sink that drops frames until the device is back) rather than sleep.
    """

    def __init__(self, min_s: float = MIN_S, max_s: float = MAX_S) -> None:
        self.min_s, self.max_s = float(min_s), float(max_s)
        self.delay = self.min_s
        self._next_try = 0.0

    def failed(self, now: float | None = None) -> float:
        """Record a failure; returns the wait before the next try."""
        wait = self.delay
        self._next_try = (time.monotonic() if now is None else now) + wait
        self.delay = min(self.delay * 2, self.max_s)
        return wait

    def reset(self) -> None:
        self.delay, self._next_try = self.min_s, 0.0

    def due(self, now: float | None = None) -> bool:
        """Whether the next try may happen now."""
        return (time.monotonic() if now is None else now) >= self._next_try
