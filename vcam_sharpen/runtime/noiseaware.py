"""Noise-aware model choice: a clean-trained and a noise-trained 2x student behind one engine interface.

A two-layer student sees a 5x5 window and cannot tell sensor noise from fine texture, so no single
set of weights suits both a good camera and a noisy one: the clean-trained student (``student-clean``)
is the sharpest on a clean picture and sharpens noise into grain; a student trained on what the
temporal stage leaves of the noise (``student-temporal``, ``train --sequence``) is the better one on a
noisy camera. :class:`NoiseAwareEngine` runs one of them, chosen from the noise estimate of the picture:

* **The level** is the temporal stage's luma noise sigma (grey levels, on the raw half-size frame, before
  filtering; :attr:`TemporalDenoiser.noise <vcam_sharpen.frames.temporal.TemporalDenoiser.noise>`) when
  the engine watches a stage that is not off (:meth:`NoiseAwareEngine.watch`; the Sharpener does this),
  else its own estimate of the frames it is given, with the same estimator every ``every`` frames. Either
  is smoothed once more here (an exponential average over ~``smooth`` frames), so one odd frame moves it
  little.
* **Hysteresis:** the noise-trained model is chosen above ``noisy_above`` (1.4 grey levels), the clean one
  again below ``clean_below`` (1.0), and never within ``hold`` frames (60: 2 s at 30 fps) of the last
  switch, so a level that wanders around a threshold cannot make the choice flap. The first frame picks
  directly, without a fade.
* **Cross-fade:** a switch does not jump. For the next ``fade`` frames (15: 0.5 s at 30 fps) both models
  run and their outputs are blended, the new one's weight rising linearly from 1/fade to 1; outside a fade
  only the chosen model runs, so it costs what one student costs.

Frame counts rather than clock time keep a recorded clip's output reproducible; the daemon scales them with
the camera's rate (:func:`rate_frames`: 0.5 s of fade, 2 s of hold). The Sharpener's ``strength`` (a blend of the output with the plain upscale)
applies to this engine's output as to any engine's: nothing here changes its meaning.

The name ``noise-aware`` (:data:`vcam_sharpen.core.tags.PAIRS`) loads as a
:class:`~vcam_sharpen.core.loader.ModelPair`; :func:`create_any` turns it into this engine (and any other model
into its usual engine), so every command that takes ``--model`` runs it the same way. It has no single tile
graph (:func:`vcam_sharpen.frames.reuse.tile_halo` is None); the Sharpener's static-region reuse runs the chosen
model's tiles through :meth:`NoiseAwareEngine.restore_reusing`, and whole frames during a fade.
On still pictures (eval's tables) :class:`FirstFrameChoice` does per picture what the engine does on a camera's
first frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from torch import nn

from ..core import loader
from ..core.tags import NOISE_AWARE
from ..frames.temporal import AUTO_OFF, AUTO_ON, TemporalDenoiser, estimate_noise
from .engines import create_engine

CHOICES = ("clean", "noisy")
# Hysteresis thresholds, luma noise sigma in grey levels as the temporal stage estimates it on the half-size
# frame (the larger of its spatial and frame-to-frame estimates): clean compressed clips measure 0.37-0.84 (the
# 60 fps face clip's codec redraw reads highest), the `camera` preset 3.5-4.0, noise sigma 2 about 2 and 5 about 5.1.
# They are the stage's own auto thresholds (on above 1.4, off below 1.0), so the noise-trained model runs exactly
# while the stage filters, which is what it was trained on (0.8 / 0.65, set for the spatial estimate alone,
# switched the clean face clip to it after 49 frames).
NOISY_ABOVE, CLEAN_BELOW = AUTO_ON, AUTO_OFF
CLEAN_MODEL, NOISY_MODEL = loader.PAIRS[NOISE_AWARE].members  # the shipped pair


class NoiseAwareEngine:
    """Two engines with the same ``input_scale`` (see the module docstring), one engine interface.

    Args:
        clean, noisy: the engines (:func:`~vcam_sharpen.runtime.engines.create_engine`) of the clean- and the
            noise-trained model.
        noisy_above, clean_below: the hysteresis thresholds, luma noise sigma in grey levels.
        fade: frames of a cross-fade (>= 1; 1 is a cut); hold: frames after a switch before the next (>= fade).
        smooth: frames of the level's exponential average (1: none); every: frames between own estimates.
        names: what :meth:`state` calls the two models (default: the engines' model names).

    Attributes:
        noise: the smoothed luma noise level the choice reads (grey levels), None before the first frame.
        choice: ``"clean"`` or ``"noisy"``, the model chosen (the one faded to, during a fade).
        mix: the noisy model's weight in the output, 0..1 (0 or 1 outside a fade).
        switches: how many times the choice changed.
    """

    model_name = NOISE_AWARE  # what errors (core.degrade.check_mode) call it

    def __init__(self, clean, noisy, noisy_above: float = NOISY_ABOVE, clean_below: float = CLEAN_BELOW, fade: int = 15,
                 hold: int = 60, smooth: int = 8, every: int = 8, names: tuple[str, str] | None = None) -> None:
        if getattr(clean, "input_scale", 1) != getattr(noisy, "input_scale", 1):
            raise ValueError("the clean and the noisy engine must take the same frames (input_scale differs)")
        if not 0.0 <= clean_below < noisy_above:
            raise ValueError(f"thresholds: need 0 <= clean_below < noisy_above, got {clean_below:g}, {noisy_above:g}")
        if fade < 1 or hold < fade or smooth < 1 or every < 1:
            raise ValueError(f"need fade >= 1, hold >= fade, smooth >= 1 and every >= 1, got {fade}, {hold}, "
                             f"{smooth}, {every}")
        self.engines = {"clean": clean, "noisy": noisy}
        self.names = dict(zip(CHOICES, names or (_name(clean), _name(noisy))))  # what status calls the models
        self.input_scale = getattr(clean, "input_scale", 1)
        self.noisy_above, self.clean_below = float(noisy_above), float(clean_below)
        self.fade, self.hold, self.smooth, self.every = int(fade), int(hold), int(smooth), int(every)
        self._denoiser: TemporalDenoiser | None = None
        self._outs: dict[tuple, list] = {}
        self._shape: tuple | None = None  # the frames' shape: another one is another source (reset)
        self.model = None  # the ModelPair it runs, where built from one (create_any, tuning.engine_for_rate)
        self.reset()

    def reset(self) -> None:
        """Forget the level and the choice (a new source): the next frame picks again, without a fade."""
        self.noise: float | None = None
        self.choice = "clean"
        self.mix = 0.0
        self._pos = 0           # the fade's position, 0 (clean) .. fade (noisy)
        self.switches = 0
        self._since = 0         # frames since the last switch
        self._count = 0         # frames seen (own estimates)
        self._own: float | None = None

    def watch(self, denoiser: TemporalDenoiser | None) -> None:
        """Read the noise level from ``denoiser`` (the Sharpener's temporal stage) while it is not off."""
        self._denoiser = denoiser

    # ------------------------------------------------------------------ the choice

    def _raw_level(self, planes) -> float | None:
        """The luma noise sigma of this frame's source: the watched stage's, or an own estimate."""
        d = self._denoiser
        if d is not None and d.mode != "off" and d.strength > 0.0 and d.noise is not None:
            return float(d.noise[0])
        if self._count % self.every == 0 or self._own is None:
            self._own = estimate_noise(planes)[0]
        self._count += 1
        return self._own

    def observe(self, level: float | None) -> None:
        """One frame's level (grey levels; None: unknown, the choice holds): smooth it, decide, advance the fade."""
        if level is not None and math.isfinite(level):
            if self.noise is None:  # the first frame: pick directly
                self.noise = float(level)
                self.choice = "noisy" if self.noise > self.noisy_above else "clean"
                self._pos = self.fade if self.choice == "noisy" else 0
                self.mix, self._since = self._pos / self.fade, self.hold
                return
            a = 1.0 / self.smooth
            self.noise = math.sqrt((1.0 - a) * self.noise ** 2 + a * float(level) ** 2)
        self._since += 1
        if self.noise is not None and self._since >= self.hold:
            want = self.choice
            if self.choice == "clean" and self.noise > self.noisy_above:
                want = "noisy"
            elif self.choice == "noisy" and self.noise < self.clean_below:
                want = "clean"
            if want != self.choice:
                self.choice, self._since, self.switches = want, 0, self.switches + 1
        # the fade in whole steps of 1/fade (no rounding drift: it ends exactly on 0 or 1)
        self._pos = min(self._pos + 1, self.fade) if self.choice == "noisy" else max(self._pos - 1, 0)
        self.mix = self._pos / self.fade

    def state(self) -> dict:
        """What ``status`` and the panel show: the level, the choice, both models and the fade."""
        return {"noise": None if self.noise is None else round(self.noise, 2), "choice": self.choice,
                "model": self.names[self.choice], "models": dict(self.names),
                "mix": round(self.mix, 3), "fading": 0.0 < self.mix < 1.0, "switches": self.switches,
                "thresholds": {"clean_below": self.clean_below, "noisy_above": self.noisy_above},
                "source": "temporal" if self._denoiser is not None and self._denoiser.mode != "off" else "own"}

    def describe(self) -> str:
        """The two engines (fixed when built: the choice and the level are in :meth:`state`)."""
        clean, noisy = (e.describe() for e in self.engines.values())
        return f"2 x {clean}" if clean == noisy else f"{clean} + {noisy}"

    # ------------------------------------------------------------------ frames

    def _begin(self, planes) -> None:
        """This frame's level and choice (once per frame, before it is restored)."""
        if planes.shape != self._shape:  # a size change: another camera or mode, its noise is not known yet
            self._shape = planes.shape
            self.reset()
        self.observe(self._raw_level(planes))

    def restore_reusing(self, planes: np.ndarray, slot) -> np.ndarray:
        """As :meth:`restore_planar`, with static-region reuse (the Sharpener's
        :class:`~vcam_sharpen.frames.reuse.ReuseSlot`, None: off) run by the chosen model's own tile graph when
        one model makes the output. The slot is keyed by that engine, so a switch starts its reuse afresh (no
        tile kept from the other model); during a fade both models run whole frames."""
        self._begin(planes)
        m = self.mix
        one = self.engines["clean"] if m <= 0.0 else self.engines["noisy"] if m >= 1.0 else None
        reuse = slot.get(one, planes.shape) if slot is not None and one is not None else None
        return reuse.restore(planes) if reuse is not None else self._blend("restore_planar", planes)

    def _run(self, method: str, frame: np.ndarray, planes) -> np.ndarray:
        self._begin(planes)
        return self._blend(method, frame)

    def _blend(self, method: str, frame: np.ndarray) -> np.ndarray:
        """The chosen model's output, or both blended during a fade (the choice already made for this frame)."""
        m = self.mix
        if m <= 0.0:
            return getattr(self.engines["clean"], method)(frame)
        if m >= 1.0:
            return getattr(self.engines["noisy"], method)(frame)
        a = getattr(self.engines["noisy"], method)(frame)
        b = getattr(self.engines["clean"], method)(frame)
        return cv2.addWeighted(a, m, b, 1.0 - m, 0.0, dst=self._buffer(a.shape))

    def _buffer(self, shape: tuple) -> np.ndarray:
        bufs = self._outs.get(shape)
        if bufs is None:  # two buffers, alternated as the engines do: the previous result stays valid
            self._outs.clear()
            bufs = self._outs[shape] = [np.empty(shape, np.uint8) for _ in range(2)]
        out = bufs.pop(0)
        bufs.append(out)
        return out

    def restore_planar(self, planes: np.ndarray) -> np.ndarray:
        """``(3, h, w)`` uint8 BGR half-size frame -> ``(2h, 2w, 3)`` uint8 BGR (engines without a planar
        path get the interleaved frame)."""
        if all(hasattr(e, "restore_planar") for e in self.engines.values()):
            return self._run("restore_planar", planes, planes)
        return self._run("restore_half", np.ascontiguousarray(planes.transpose(1, 2, 0)), planes)

    def restore_half(self, small: np.ndarray) -> np.ndarray:
        """``(h, w, 3)`` uint8 BGR half-size frame -> ``(2h, 2w, 3)`` uint8 BGR."""
        return self._run("restore_half", small, small.transpose(2, 0, 1))

    def restore_full(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 BGR frame -> same-size uint8 BGR (same-size models)."""
        return self._run("restore_full", frame, frame.transpose(2, 0, 1))


def _name(engine) -> str:
    return str(getattr(engine, "model_name", type(engine).__name__))


def rate_frames(fps: float) -> dict:
    """``fade`` and ``hold`` for a camera at ``fps``: 0.5 s of cross-fade, 2 s between switches (15 and 60
    frames at 30 fps, the wrapper's defaults)."""
    fade = max(1, round(0.5 * float(fps)))
    return {"fade": fade, "hold": max(fade, round(2.0 * float(fps)))}


def create_any(model, engine: str = "auto", device: str = "auto", threads: int | None = None, fps: float = 30.0):
    """:func:`~vcam_sharpen.runtime.engines.create_engine` for ``model`` (:func:`vcam_sharpen.core.loader.load`'s
    result); a :class:`~vcam_sharpen.core.loader.ModelPair` becomes a :class:`NoiseAwareEngine` over one engine per
    member, its fade and hold for a camera at ``fps`` (:func:`rate_frames`)."""
    if not isinstance(model, loader.ModelPair):
        return create_engine(model, engine, device, threads)
    return pair_engine(model, *(create_engine(m, engine, device, threads) for m in model.members), fps=fps)


def pair_engine(model, clean, noisy, fps: float = 30.0) -> NoiseAwareEngine:
    """The :class:`NoiseAwareEngine` of a :class:`~vcam_sharpen.core.loader.ModelPair` over its members' engines
    (``clean``, ``noisy``), its fade and hold for a camera at ``fps`` (:func:`rate_frames`)."""
    out = NoiseAwareEngine(clean, noisy, names=model.names, **rate_frames(fps))
    out.model = model
    return out


class FirstFrameChoice(nn.Module):
    """A :class:`~vcam_sharpen.core.loader.ModelPair` as one network for still pictures (``eval``'s tables): each
    picture is restored by the member the noise-aware choice takes on a camera's first frame, the noisy one when
    the picture's own luma noise estimate (:func:`~vcam_sharpen.frames.temporal.estimate_noise` on its uint8
    planes) is above ``noisy_above``. A still has no time, so there is no hysteresis and no fade.

    ``(N, 3, h, w)`` float RGB in [0, 1] (the members' input) -> the members' output.
    """

    def __init__(self, pair, noisy_above: float = NOISY_ABOVE) -> None:
        super().__init__()
        self.pair, self.noisy_above = pair, float(noisy_above)
        self.model_name, self.input_scale = pair.model_name, pair.input_scale
        self.picks = {"clean": 0, "noisy": 0}  # pictures restored by each member so far

    @property
    def members(self):  # count_macs counts the dearer member
        return self.pair.members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for img in x:
            planes = (img.detach().flip(0) * 255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
            noisy = min(planes.shape[1:]) >= 3 and estimate_noise(planes)[0] > self.noisy_above
            self.picks["noisy" if noisy else "clean"] += 1
            outs.append((self.pair.noisy if noisy else self.pair.clean)(img[None]))
        return torch.cat(outs)
