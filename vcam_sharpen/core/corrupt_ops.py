"""The corruption model's primitives: what a webcam's optics, sensor and codec do to one picture.

Every function takes and returns an ``(H, W, 3)`` uint8 RGB array in [0, 255] and never modifies its
input; randomness only comes from an explicit ``numpy.random.Generator``. The spec language, the
presets and the batch helpers that chain them are in :mod:`vcam_sharpen.core.corrupt`.
"""
from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np


def _check(img: np.ndarray) -> None:
    if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3):
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {getattr(img, 'shape', type(img))} "
                         f"{getattr(img, 'dtype', '')}")


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- primitives

def gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise, independent per pixel and channel.

    img: (H, W, 3) uint8 RGB in [0, 255]. sigma: std in [0, 1] units
    (sigma=5/255 is a std of 5 grey levels). Returns (H, W, 3) uint8, rounded
    and clipped. sigma=0 returns an unchanged copy.
    """
    _check(img)
    if sigma == 0:
        return img.copy()
    noise = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma * 255.0)
    return _to_uint8(img.astype(np.float32) + noise)


def poisson_gaussian_noise(img: np.ndarray, a: float, b: float, rng: np.random.Generator) -> np.ndarray:
    """Signal-dependent sensor noise (Foi et al. 2008, "Practical Poissonian-
    Gaussian noise modeling and fitting for single-image raw-data").

    With x = img / 255 in [0, 1], the output is x + n with n ~ N(0, a*x + b**2):
    the Poisson (photon shot) part has variance proportional to the signal
    (``a`` is the gain), the Gaussian part (read-out / thermal noise) has
    constant std ``b``. Like Foi et al. we use the heteroscedastic Gaussian
    approximation of the Poisson term, accurate except at a few photons.

    img: (H, W, 3) uint8 RGB in [0, 255]; a >= 0, b >= 0 in [0, 1] units.
    Returns (H, W, 3) uint8, rounded and clipped.
    """
    _check(img)
    x = img.astype(np.float32) / np.float32(255.0)
    std = np.sqrt(np.float32(a) * x + np.float32(b) ** 2)
    noise = rng.standard_normal(img.shape, dtype=np.float32) * std
    return _to_uint8((x + noise) * np.float32(255.0))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG encode/decode with OpenCV (libjpeg), 4:2:0 chroma subsampling as
    MJPEG webcams use. img: (H, W, 3) uint8 RGB; quality: int 1..100.
    Returns (H, W, 3) uint8 RGB.
    """
    _check(img)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality),
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]
    # OpenCV works in BGR; convert on the way in and out so channels stay put.
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError("cv2.imencode failed for JPEG")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def h264(img: np.ndarray, crf: int) -> np.ndarray:
    """One frame through H.264 (libx264 via PyAV, yuv420p, preset veryfast,
    tune zerolatency, one thread) and back. img: (H, W, 3) uint8 RGB, any
    size (odd sizes are edge-padded to even, as 4:2:0 needs, then cropped);
    crf: int 0..51 (0 is lossless in YUV; only the 4:2:0 colour conversion
    loses). Returns (H, W, 3) uint8 RGB. Raises RuntimeError without PyAV/x264.
    """
    _check(img)
    try:
        import av  # lazy: PyAV is optional, only the h264 corruption needs it
        enc = av.CodecContext.create("libx264", "w")
    except (ImportError, ValueError) as e:
        raise RuntimeError(f"h264 corruption needs PyAV with libx264 (pip install av): {e}") from None
    h, w = img.shape[:2]
    padded = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    enc.width, enc.height = padded.shape[1], padded.shape[0]
    enc.pix_fmt = "yuv420p"
    enc.time_base = Fraction(1, 30)
    # veryfast keeps the deblocking filter that real encoders use (ultrafast
    # drops it); zerolatency = no B-frames/lookahead; threads=1 because x264's
    # sliced threads make the bitstream depend on the machine's core count.
    enc.options = {"crf": str(int(crf)), "preset": "veryfast", "tune": "zerolatency", "threads": "1"}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    packets = list(enc.encode(frame)) + list(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    frames = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    if not frames:
        raise RuntimeError("libx264 produced no decodable frame")
    return np.ascontiguousarray(frames[0].to_ndarray(format="rgb24")[:h, :w])


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Mild defocus: Gaussian blur, sigma in pixels (0 = unchanged copy),
    BORDER_REFLECT_101. img: (H, W, 3) uint8 RGB. Returns (H, W, 3) uint8."""
    _check(img)
    if sigma == 0:
        return img.copy()
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma), sigmaY=float(sigma),
                            borderType=cv2.BORDER_REFLECT_101)


def h264_available() -> bool:
    """Whether PyAV with libx264 is importable (the ``h264`` term needs it; ``camera`` falls back to JPEG)."""
    try:
        import av  # lazy: PyAV is optional; without it `camera` uses JPEG only
        av.Codec("libx264", "w")
        return True
    except Exception:
        return False
