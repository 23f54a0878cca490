"""Corruption model: what a real webcam does to a picture.

Used in the 2x protocol (downscale a clean frame, corrupt the half-size image,
bilinear-upscale it back) and in a same-size mode (corrupt the full-size
image). Every function takes and returns an ``(H, W, 3)`` uint8 RGB array in
[0, 255] and never modifies its input. Randomness only ever comes from an
explicit ``numpy.random.Generator``, so a seed fully determines the output.

Spec language (``parse_corruption``), terms joined with ``+``, applied left
to right, e.g. ``blur:0.8+noise:3+jpeg:70``:

    clean        identity
    noise:SIGMA  additive Gaussian noise, SIGMA in grey levels 0..255 (noise:5 = 5/255)
    pg:A,B       Poisson-Gaussian noise, in grey levels: at grey level X the
                 noise variance is A*X + B**2 (grey levels squared); A, B 0..255
    jpeg:Q       JPEG round trip, quality 1..100, 4:2:0 chroma
    h264:CRF     one H.264 intra frame, CRF 0..51 (needs PyAV)
    blur:SIGMA   Gaussian defocus blur, SIGMA in pixels 0..50 (the kernel spans
                 about 6 SIGMA: larger values only cost time and memory)

At most MAX_TERMS terms; every range is checked when the spec is parsed, before any work.
    camera       a random realistic webcam chain per image (see sample_camera)
    camera-train the robust 2x models' training mix: 30% clean, milder noise and
                 codecs than ``camera`` (see sample_camera_train)
    soft         a random soft same-size webcam frame per image: defocus blur,
                 sensor noise, a codec (see sample_soft; ``--degradation soft``)
    soft-train   ``soft``'s training mix: also clean and sharp-but-noisy images

Bad specs raise :class:`CorruptionError`, both a ``ValueError`` and the package's
``UserError`` (one line; the CLI prints it and exits 2). Training, eval and bench
apply it through :func:`vcam_sharpen.core.degrade.degrade_pair`.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import numpy as np

from .corrupt_ops import _check, gaussian_blur, gaussian_noise, h264, h264_available, jpeg, poisson_gaussian_noise
from .errors import UserError

__all__ = ["Corruption", "CorruptionError", "parse_corruption", "sample_camera", "sample_camera_train",
           "sample_soft", "corrupt_batch", "corrupt_tensor", "gaussian_noise", "poisson_gaussian_noise", "jpeg",
           "h264", "gaussian_blur", "h264_available", "CAMERA", "CAMERA_TRAIN", "SOFT"]

_FORMS = ("clean, noise:SIGMA, pg:A,B, jpeg:Q, h264:CRF, blur:SIGMA, camera, camera-train, soft, soft-train "
          "(joined with '+')")


class CorruptionError(UserError, ValueError):
    """A bad corruption spec (one line, names the valid forms or the allowed range)."""


# ------------------------------------------------------ spec language + sampler

def _fmt(v: float) -> str:
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


@dataclass(frozen=True)
class Corruption:
    """A chain of corruption terms, e.g. (("blur", (0.8,)), ("jpeg", (70,))).
    Build it with parse_corruption; str() gives the spec text back."""

    terms: tuple[tuple[str, tuple[float, ...]], ...]

    @property
    def is_clean(self) -> bool:
        """True when every term is ``clean``: the image passes through untouched (not even rounded)."""
        return all(name == "clean" for name, _ in self.terms)

    @property
    def is_random(self) -> bool:
        """True when the result depends on the random generator (noise, pg, the presets); jpeg, h264 and
        blur are fixed functions of the image."""
        return any(name in ("noise", "pg") or name in PRESETS for name, _ in self.terms)

    @property
    def needs_h264(self) -> bool:
        """True when a term is ``h264`` (``camera`` falls back to JPEG without PyAV)."""
        return any(name == "h264" for name, _ in self.terms)

    def __str__(self) -> str:
        return "+".join(name + (":" + ",".join(_fmt(v) for v in args) if args else "")
                        for name, args in self.terms)

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> corrupted copy, same shape; deterministic given rng's state."""
        _check(img)
        out = img.copy()
        for name, args in self.terms:
            if name == "noise":
                out = gaussian_noise(out, args[0] / 255.0, rng)
            elif name == "pg":  # spec is in grey levels: a = A/255, b = B/255
                out = poisson_gaussian_noise(out, args[0] / 255.0, args[1] / 255.0, rng)
            elif name == "jpeg":
                out = jpeg(out, int(args[0]))
            elif name == "h264":
                out = h264(out, int(args[0]))
            elif name == "blur":
                out = gaussian_blur(out, args[0])
            elif name in PRESETS:  # draw this image's chain, then apply it
                out = PRESETS[name](rng).apply(out, rng)
        return out


MAX_TERMS = 16  # a chain longer than any real camera's only multiplies the work
# name -> (number of values, (low, high) or None, integer-valued?); the presets (PRESETS) take no values
_RULES = {
    "clean": (0, None, False),
    "noise": (1, (0.0, 255.0), False), "blur": (1, (0.0, 50.0), False),
    "pg": (2, (0.0, 255.0), False),
    "jpeg": (1, (1, 100), True), "h264": (1, (0, 51), True),
}


def parse_corruption(text: str) -> Corruption:
    """Parse spec text (see module docstring) into a Corruption.
    Raises CorruptionError (a ValueError; one line) on bad syntax or out-of-range values."""
    bad = CorruptionError(f"bad corruption spec {text!r}; valid forms: {_FORMS}")
    if not isinstance(text, str) or not text.strip():
        raise bad
    terms = []
    if text.count("+") >= MAX_TERMS or len(text) > 40 * MAX_TERMS:
        raise CorruptionError(f"corruption spec {text[:40]!r}...: at most {MAX_TERMS} terms; drop some")
    for term in text.strip().split("+"):
        name, _, rest = term.strip().partition(":")
        if name not in _RULES and name not in PRESETS:
            raise bad
        count, bounds, integer = _RULES.get(name, (0, None, False))
        try:
            args = tuple(float(v) for v in rest.split(",")) if rest else ()
        except ValueError:
            raise bad from None
        if len(args) != count:
            raise bad
        for v in args:
            lo, hi = bounds
            if not math.isfinite(v) or not lo <= v <= hi or (integer and v != int(v)):
                kind = "an integer" if integer else "a number"
                raise CorruptionError(f"corruption {name}: value {_fmt(v)} out of range; expected {kind} in "
                                 f"[{_fmt(lo)}, {_fmt(hi)}]")
        terms.append((name, tuple(int(v) if integer else v for v in args)))
    return Corruption(tuple(terms))


# ------------------------------------------------------------------- presets

CLEAN = Corruption((("clean", ()),))


def _draw_codecs(rng: np.random.Generator, c: dict) -> tuple[int, int]:
    """A JPEG quality and an H.264 CRF from a preset's ranges (both always drawn, so a seed draws the same
    numbers with or without PyAV)."""
    return int(rng.integers(c["jpeg"][0], c["jpeg"][1] + 1)), int(rng.integers(c["h264"][0], c["h264"][1] + 1))


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return rng.uniform(math.log(lo_hi[0]), math.log(lo_hi[1]))


def _pg_term(log_a: float, b: float) -> tuple:
    return ("pg", (round(math.exp(log_a), 4), round(b, 2)))


def _codec_term(c: dict, u_codec: float, q: int, crf: int, h264_ok: bool | None) -> tuple:
    """H.264 at ``crf`` with probability ``c["p_h264"]`` when PyAV has libx264, else JPEG at ``q``."""
    if h264_ok is None:
        h264_ok = h264_available()
    return ("h264", (crf,)) if h264_ok and u_codec < c["p_h264"] else ("jpeg", (q,))


# Ranges of the `camera` preset; see sample_camera for where they come from.
CAMERA = dict(p_clean=0.2, pg_a=(0.03, 0.3), pg_b=(0.5, 4.0), p_blur=0.3, blur=(0.3, 1.2),
              jpeg=(30, 95), p_h264=0.5, h264=(18, 35))


def sample_camera(rng: np.random.Generator, h264_ok: bool | None = None) -> Corruption:
    """Draw one realistic webcam chain: clean, or [blur] + pg noise + codec.

    Ranges (all in grey levels, as in the spec language; CAMERA holds them):
    - 20% clean: the sharpener must also leave good frames alone.
    - Poisson-Gaussian sensor noise (Foi et al. 2008): A log-uniform in
      0.03..0.3, B uniform in 0.5..4, so the std is 0.5-4 grey levels in the
      dark and at most sqrt(0.3*255 + 16) ~ 9.6 at white. Real-ESRGAN uses
      Gaussian sigma 1-30/255 and BSRGAN up to 25/255 for arbitrary internet
      photos; a webcam ISP denoises before encoding, and our corrupted image
      is the *half-size* frame, where 2x2 downscaling has already averaged
      sensor noise by ~2x, so we stay at <= ~10/255 with shot noise dominant
      in the highlights, as on real sensors.
    - 30%: mild defocus blur, sigma 0.3-1.2 px (cheap fixed-focus lenses,
      focus hunting; BSRGAN's blur is stronger as it also models resizing).
      Blur comes first: optics act before the sensor adds noise.
    - Always a codec, because webcams always deliver compressed video:
      JPEG quality 30-95 (MJPEG webcams; the Real-ESRGAN range), or, with
      probability 0.5 when PyAV+libx264 is available, H.264 CRF 18-35
      (18 ~ visually lossless, 35 ~ a starved video-call stream).
    The same random numbers are drawn with or without PyAV, so a seed gives
    the same chain except that H.264 is replaced by JPEG.
    """
    c = CAMERA
    u_clean, u_blur, u_codec = rng.random(3)
    log_a = _log_uniform(rng, c["pg_a"])
    b, sigma = rng.uniform(*c["pg_b"]), rng.uniform(*c["blur"])
    q, crf = _draw_codecs(rng, c)
    if u_clean < c["p_clean"]:
        return CLEAN
    terms = [("blur", (round(sigma, 2),))] if u_blur < c["p_blur"] else []
    return Corruption((*terms, _pg_term(log_a, b), _codec_term(c, u_codec, q, crf, h264_ok)))


# The training mix of the robust 2x models (`camera-train`); see sample_camera_train.
CAMERA_TRAIN = dict(p_clean=0.3, p_noise_only=0.25, p_codec_only=0.25, noise=(1.0, 8.0), p_pg=0.5,
                    jpeg=(50, 95), p_h264=0.5, h264=(18, 30))


def sample_camera_train(rng: np.random.Generator, h264_ok: bool | None = None) -> Corruption:
    """Draw one training corruption for the robust 2x models: milder than ``camera``, and with many
    clean images, because a two-layer student that sees a 5x5 window cannot tell a clean frame from a
    noisy one and must not lose its clean sharpening (CAMERA_TRAIN holds the ranges):

    - 30% clean (target = the clean frame, as always);
    - 25% noise only, 25% codec only, 20% noise then codec;
    - noise: half the time Gaussian with sigma 1-8 grey levels, else Poisson-Gaussian with
      ``camera``'s ranges (std 0.5-4 in the dark, up to ~10 at white);
    - codec: JPEG quality 50-95 or, half the time when PyAV has libx264, H.264 CRF 18-30 (not
      ``camera``'s JPEG 30 / CRF 35: short runs trained on those lost clean quality for too little
      gain, see the README's "Real webcam frames").
    Same random numbers with or without PyAV, as in :func:`sample_camera`.
    """
    c = CAMERA_TRAIN
    u_kind, u_pg, u_codec = rng.random(3)
    sigma = rng.uniform(*c["noise"])
    log_a, b = _log_uniform(rng, CAMERA["pg_a"]), rng.uniform(*CAMERA["pg_b"])
    q, crf = _draw_codecs(rng, c)
    noise_only_end = c["p_clean"] + c["p_noise_only"]
    codec_only_end = noise_only_end + c["p_codec_only"]
    if u_kind < c["p_clean"]:
        return CLEAN
    terms = []
    if not noise_only_end <= u_kind < codec_only_end:  # noise only, or noise then codec
        terms.append(_pg_term(log_a, b) if u_pg < c["p_pg"] else ("noise", (round(sigma, 2),)))
    if u_kind >= noise_only_end:  # codec only, or noise then codec
        terms.append(_codec_term(c, u_codec, q, crf, h264_ok))
    return Corruption(tuple(terms))


# Ranges of the `soft` preset (full-size frames, the same-size task); see sample_soft.
SOFT = dict(blur=(0.5, 1.5), pg_a=(0.02, 0.2), pg_b=(0.5, 2.5), jpeg=(60, 95), p_h264=0.5, h264=(18, 30),
            train_clean=0.2, train_sharp=0.15)


def sample_soft(rng: np.random.Generator, train: bool = False, h264_ok: bool | None = None) -> Corruption:
    """Draw one soft full-size webcam frame: blur + Poisson-Gaussian noise + codec.

    What a laptop webcam at its own resolution delivers (SOFT holds the ranges):
    - defocus / lens softness: Gaussian blur sigma 0.5-1.5 px (the issue's range: a
      fixed-focus lens slightly off, a cheap plastic lens), first: optics act before the sensor;
    - sensor noise at full size (no 2x2 average as in ``camera``): A log-uniform 0.02..0.2,
      B 0.5..2.5 grey levels, so the std is 0.5-2.5 in the dark and at most ~7.6 at white;
    - a codec: JPEG quality 60-95 or, with probability 0.5 when PyAV+libx264 is there, H.264
      CRF 18-30 (a webcam's own MJPEG/H.264 at its usual settings, milder than ``camera``'s
      starved call stream: the frame is read at the camera, before the call's encoder).
    ``train=True`` (``soft-train``) also draws 20% clean images (the target is the input: a
    sharp frame must be left alone) and 15% sharp but noisy and compressed ones (denoise
    without sharpening). Same random numbers with or without PyAV, as in :func:`sample_camera`.
    """
    c = SOFT
    u_kind, u_codec = rng.random(2)
    sigma, log_a = rng.uniform(*c["blur"]), _log_uniform(rng, c["pg_a"])
    b = rng.uniform(*c["pg_b"])
    q, crf = _draw_codecs(rng, c)
    if train and u_kind < c["train_clean"]:
        return CLEAN
    sharp = train and u_kind < c["train_clean"] + c["train_sharp"]
    terms = [] if sharp else [("blur", (round(sigma, 2),))]
    return Corruption((*terms, _pg_term(log_a, b), _codec_term(c, u_codec, q, crf, h264_ok)))


# The random presets of the spec language: name -> draw one image's chain from its generator.
PRESETS = {
    "camera": sample_camera,
    "camera-train": sample_camera_train,
    "soft": sample_soft,
    "soft-train": lambda rng: sample_soft(rng, train=True),
}


# ------------------------------------------------------------------- batches

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """One shared thread pool per size, made on first use (never at import time)."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="corrupt")
    return _POOLS[workers]


def corrupt_batch(images, spec, seed: int, offset: int = 0, workers: int = 0):
    """Corrupt each image of an (N, H, W, 3) uint8 array or a list of (H, W, 3)
    uint8 arrays (sizes may differ); returns the same kind, inputs untouched.

    Image i uses np.random.default_rng([seed, offset + i]), so an image's
    result depends only on (seed, its global index): corrupting a batch in
    parts, passing offset = index of each part's first image, gives the same
    result as corrupting it whole. seed and offset must be >= 0.
    workers > 1 corrupts the images on that many threads (OpenCV and x264 run
    outside the GIL); the result is the same, as each image has its own generator.
    """
    corruption = spec if isinstance(spec, Corruption) else parse_corruption(spec)

    def one(i: int) -> np.ndarray:
        return corruption.apply(images[i], np.random.default_rng([seed, offset + i]))

    n = len(images)
    out = list(_pool(workers).map(one, range(n))) if workers > 1 and n > 1 else [one(i) for i in range(n)]
    if isinstance(images, np.ndarray):
        return np.stack(out) if out else images.copy()
    return out


def corrupt_tensor(x, spec, seed: int, offset: int = 0, workers: int = 0):
    """Torch wrapper for training/eval: x is an (N, 3, H, W) float tensor in
    [0, 1] (any device). It is rounded to uint8, corrupted per image with
    corrupt_batch(..., seed, offset, workers) and returned as a float tensor in [0, 1]
    with x's shape, dtype and device. No gradient flows through."""
    import torch  # lazy: only this helper needs torch; the rest is numpy/cv2

    u8 = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    arr = u8.permute(0, 2, 3, 1).cpu().numpy()
    out = corrupt_batch(np.ascontiguousarray(arr), spec, seed, offset, workers)
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype) / 255.0
