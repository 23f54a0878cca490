"""Recordings that survive a crash: ``--output FILE.mp4`` / ``.mkv`` / ``.avi``, written with PyAV (FFmpeg).

A plain MP4 keeps its index (the ``moov`` atom) for the very end, so a killed daemon or a
power cut leaves a file nothing can play. Here an ``.mp4`` is *fragmented*: an empty index
up front, then one self-contained fragment per keyframe, one keyframe a second; ``.mkv``
(Matroska) starts a cluster at every keyframe; ``.avi`` is MJPEG, every frame a keyframe.
After each keyframe the file is flushed and synced, so a SIGKILL at any moment leaves a file
that plays up to within about a second of the kill.

The file is created with the first frame, not before: a command that fails while starting
leaves no file behind. An existing file is never overwritten: when ``take.mp4`` exists the
recording goes to ``take-1.mp4`` (the next free name, created exclusively), and the log says so.
Only regular files are written: a FIFO, device, socket or folder at the name is refused. A full
disk or a vanished folder ends the recording (logged once, with the number of frames that were
synced to the disk and so surely play) without stopping the virtual camera.
"""

from __future__ import annotations

import logging
import os
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..core.errors import UserError, one_line
from ..core.files import NAME_MAX, check_output, check_writable
from .sinks import Sink

log = logging.getLogger(__name__)

# suffix -> (container format, codec, codec options, container options)
FORMATS = {
    ".mp4": ("mp4", "libx264", {"preset": "veryfast", "tune": "zerolatency", "crf": "20"},
             {"movflags": "frag_keyframe+empty_moov+default_base_moof"}),
    ".mkv": ("matroska", "libx264", {"preset": "veryfast", "tune": "zerolatency", "crf": "20"}, {}),
    ".avi": ("avi", "mjpeg", {"q:v": "3"}, {}),
}
SYNC_EVERY_S = 1.0  # a keyframe, a flush and an fsync this often


class RecordingSink(Sink):
    """Frames to a video file at the output size and rate (see the module docstring)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float) -> None:
        super().__init__(size)
        self.path = Path(path)
        self.name = f"file {self.path.name}"
        self.fps = float(fps)
        self.frames = 0
        self.durable = 0  # frames before the last keyframe that was flushed and synced: these surely play
        suffix = self.path.suffix.lower()
        if suffix not in FORMATS:
            raise UserError(f"--output {path}: recordings are {', '.join(FORMATS)} files")
        if len(os.fsencode(self.path.name)) > NAME_MAX:
            check_output(self.path, "--output")  # the one message for a name no file system takes
        folder = self.path.parent
        if not folder.is_dir():
            raise UserError(f"--output {path}: folder {folder} does not exist; create it first")
        if self.path.is_dir():
            raise UserError(f"--output {path} is a folder; give a file name like {path}/out.mp4")
        check_output(self.path, "--output")  # a FIFO nobody reads would block the first write forever
        check_writable(self.path, "--output")  # a read-only or full file system: said at start, not logged later
        if not os.access(folder, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK)):
            raise UserError(f"--output {path}: no permission to write there; pick another folder")
        if suffix != ".avi" and (size[0] % 2 or size[1] % 2):
            raise UserError(f"--output {path}: H.264 needs an even frame size, not {size[0]}x{size[1]}")
        self._file = self._container = self._stream = None
        self._failed, self._synced = False, 0.0

    def _open(self) -> None:
        fmt, codec, options, container_options = FORMATS[self.path.suffix.lower()]
        rate = Fraction(self.fps).limit_denominator(1001)
        self._file = self._create()
        self._container = av.open(self._file, "w", format=fmt, options=container_options)
        stream = self._container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.time_base = 1 / rate
        stream.codec_context.gop_size = max(1, round(self.fps * SYNC_EVERY_S))
        stream.thread_count = 1  # the publisher's thread is shared with the virtual camera: stay small
        self._stream = stream
        log.info("recording to %s (%s, %s)", self.path, fmt, codec)

    def write(self, frame: np.ndarray) -> None:
        if self._failed:
            return
        try:
            if self._container is None:
                self._open()
            picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
            picture.pts = self.frames
            for packet in self._stream.encode(picture):
                self._container.mux(packet)
                if packet.is_keyframe and time.monotonic() - self._synced >= SYNC_EVERY_S:
                    self._sync(round(float(packet.pts * packet.time_base) * self.fps))
            self.frames += 1
        except (OSError, av.FFmpegError) as e:
            self._failed = True
            self._abandon()
            log.error("recording %s stopped after %d frames (%s); at least its first %d frames (%.1f s) were "
                      "synced to the disk and play", self.path, self.frames, one_line(e), self.durable,
                      self.durable / self.fps)

    def _create(self):
        """The recording's file, created new (O_EXCL): an existing file, or one that appeared since the
        checks, is never overwritten; the next free ``NAME-N.ext`` is taken instead."""
        wanted, n = self.path, 0
        while True:
            try:
                f = open(self.path, "xb")
            except FileExistsError:
                n += 1
                if n > 9999:
                    raise
                self.path = wanted.with_name(f"{wanted.stem}-{n}{wanted.suffix}")
                continue
            if n:
                log.warning("%s exists: recording to %s instead (nothing is overwritten)", wanted, self.path.name)
                self.name = f"file {self.path.name}"
            return f

    def _sync(self, keyframe: int) -> None:
        """Push what the muxer has written to the disk, so a crash loses at most the last second. The
        muxer writes a fragment (a cluster) out when the next keyframe starts one: every frame before
        frame ``keyframe`` (an index) is then on the disk."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._synced = time.monotonic()
        self.durable = max(self.durable, int(keyframe))

    def _abandon(self) -> None:
        for thing in (self._container, self._file):
            try:
                if thing is not None:
                    thing.close()
            except Exception:  # noqa: BLE001 - the disk is full or gone; what was synced stays
                pass
        self._container = self._file = None

    def close(self) -> None:
        """Finish the file: flush the encoder and write the trailer; safe to call twice."""
        container, self._container = self._container, None
        if container is None:
            return
        try:
            for packet in self._stream.encode():
                container.mux(packet)
            container.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self.durable = self.frames
        except (OSError, av.FFmpegError) as e:
            log.error("finishing %s failed (%s); at least its first %d frames (%.1f s) were synced to the disk "
                      "and play",
                      self.path, one_line(e), self.durable, self.durable / self.fps)
            self._container = container
            self._abandon()
        self._file = None
