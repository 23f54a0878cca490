"""When to pause: nobody has read the outputs for a while (the webcam light goes off)."""

from __future__ import annotations


class PauseGate:
    """Decides pause and resume from the outputs' reader counts.

    Args:
        after_s: how long nobody may read before pausing: apps probe the device and reopen
            it (switching resolution, a page reload), which must not cycle the webcam.
            None: never pause.

    :meth:`update` takes every sink's ``readers()`` (None: that sink cannot tell, e.g. a
    window, a file, a backend without usage events, which always wants the real picture)
    and returns ``"pause"``, ``"resume"`` or None (no change).
    """

    def __init__(self, after_s: float | None) -> None:
        self.after_s = after_s
        self.paused = False
        self.readers: int | None = None  # apps reading the outputs, when every output can tell
        self._unused_since: float | None = None

    def update(self, counts: list[int | None], now: float) -> str | None:
        self.readers = sum(counts) if counts and None not in counts else None
        if self.after_s is None or self.readers != 0:
            self._unused_since = None
            if not self.paused:
                return None
            self.paused = False
            return "resume"
        if self._unused_since is None:
            self._unused_since = now
        if self.paused or now - self._unused_since < self.after_s:
            return None
        self.paused = True
        return "pause"
