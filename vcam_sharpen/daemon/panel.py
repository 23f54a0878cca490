"""The daemon's side of the control panel (``start --panel``): what the page may change, and how.

:class:`PanelHandle` binds the panel's socket when the daemon starts (a busy port is a one-line
error before any device opens), then serves :func:`vcam_sharpen.web.panel_app.create_panel` in a
background thread, with :class:`PanelController` as its hooks:

* strength, sharpening, split and temporal are set on the running :class:`~vcam_sharpen.frames.sharpen.Sharpener`
  at once (as ``vcam-sharpen set`` does);
* a model or mode change builds a new sharpener in a background thread (model loaded, engine
  picked and warmed up; ``auto`` measures the students), then swaps it in between two frames.
  The camera, the virtual camera and the frame rate stay as they are; until the swap the old
  sharpener keeps running. What restarts is the sharpener only;
* Save writes model, mode (``degrade``/``upscale``), strength, split and temporal to the config file
  (:mod:`vcam_sharpen.daemon.config_edit`). Sharpening on/off is not a setting and is not saved.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Callable

from ..core import loader
from ..core.degrade import check_mode
from ..core.tags import TAGS, ladder, mode_task
from ..frames.live import LIVE
from ..web.panel_app import MODES, Busy, PanelHooks, create_panel, mode_name
from ..web.security import Guard
from ..web.server import WebServer, bind, url
from . import config_edit
from .settings import Settings

log = logging.getLogger(__name__)


def model_task(name: str) -> str | None:
    """The frame task a model is for: ``"2x"`` (a frame sent at half size), ``"same-size"``, or None for one that
    runs in every mode (auto, none, unsharp, a checkpoint file): the declared tag table's
    (:data:`vcam_sharpen.core.tags.TAGS`, and :data:`~vcam_sharpen.core.tags.PAIRS` for ``noise-aware``)."""
    tag = TAGS.get(name) or loader.PAIRS.get(name)
    return tag.task if tag is not None and (name in loader.shipped() or name in loader.pairs()) else None


def offered_models(current: str, current_mode: str = "degrade") -> dict[str, list[str]]:
    """Per panel mode (:data:`~vcam_sharpen.web.panel_app.MODES`), the models the panel offers: auto, the students
    auto chooses from, none, unsharp, then the other shipped students of the mode's task (teachers are
    offline-only, far too slow for a camera); the model running now is offered in the mode it runs in."""
    pairs = loader.pairs()
    tasks = {t: model_task(t) for t in [*loader.shipped(), *pairs] if t in pairs or "teacher" not in TAGS[t].arch}
    out = {}
    for mode, (degrade, upscale) in MODES.items():
        task = mode_task(degrade, upscale)
        fits = [t for t, k in tasks.items() if k in (None, task)]
        main = [t for t in ladder(task) if t in fits]
        names = [loader.AUTO, *main, "none", "unsharp", *fits]  # the everyday choices first, then the rest
        out[mode] = list(dict.fromkeys(names + ([current] if mode == current_mode else [])))
    return out


def mode_defaults() -> dict[str, str]:
    """The model a mode change picks when the running one does not work in the new mode."""
    return {mode: loader.mode_default(degrade, upscale) for mode, (degrade, upscale) in MODES.items()}


class PanelController:
    """The panel's hooks on a running pipeline.

    Args:
        settings: the daemon's effective settings (copied; the controller keeps what the panel changed).
        pipeline: the running :class:`~vcam_sharpen.pipeline.loop.Pipeline`.
        info: the daemon's own state entries (model, engine, mode, ...), updated in place after a model change.
        on_state: writes the state file.
        build: ``settings -> (sharpener, info updates)``: the daemon's sharpener builder, warm-up included.
        cpu: the daemon's :class:`~vcam_sharpen.pipeline.stats.CpuMeter`.
    """

    def __init__(self, settings: Settings, pipeline, info: dict, on_state: Callable[[dict], None],
                 build: Callable[[Settings], tuple], cpu=None) -> None:
        self.settings = dataclasses.replace(settings)
        self.pipeline, self.info, self.on_state, self.build, self.cpu = pipeline, info, on_state, build, cpu
        self.models = offered_models(settings.model, mode_name(settings.degrade, settings.upscale))
        self.rebuilding: str | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def status(self) -> dict:
        st = {"running": True, **self.info, **self.pipeline.state(),
              "cpu_cores": self.cpu.value if self.cpu is not None else None}
        return {**st, "rebuilding": self.rebuilding, "panel_error": self.error}

    def progress(self) -> dict:
        """A model or mode change in progress (what it is) and the last one's failure, for the state file."""
        return {"rebuilding": self.rebuilding, "rebuild_error": self.error}

    def current(self) -> dict:
        s, sharp = self.settings, self.pipeline.sharpener
        return {"model": s.model, "degrade": s.degrade, "upscale": s.upscale, "strength": float(sharp.strength),
                "split": bool(sharp.split), "temporal": sharp.temporal.mode, "skip_static": bool(sharp.skip_static)}

    def apply(self, changes: dict) -> dict:
        with self._lock:
            new = self.settings
            if "model" in changes:
                new = dataclasses.replace(new, model=changes["model"], weights=None)
            if "mode" in changes:
                degrade, upscale = MODES[changes["mode"]]
                new = dataclasses.replace(new, degrade=degrade, upscale=upscale)
            if (new.model, new.degrade, new.upscale) != (self.settings.model, self.settings.degrade,
                                                         self.settings.upscale):
                if self.rebuilding:
                    raise Busy(f"a model change ({self.rebuilding}) is in progress; try again when it is done")
                self._check(new)
                self.rebuilding = f"{new.model}, {changes.get('mode', 'same mode')}"
                self.thread = threading.Thread(target=self._rebuild, args=(new,), name="panel-rebuild", daemon=True)
                self.thread.start()
            live = {k: v for k, v in changes.items() if k in LIVE}
            self.pipeline.sharpener.apply_live(live)
            self.settings = dataclasses.replace(self.settings, **{k: v for k, v in live.items() if k != "sharpening"})
            for key, value in live.items():
                log.info("panel: %s set to %s", key, value)
        self.on_state(self.pipeline.state())
        return self.current()

    def _check(self, new: Settings) -> None:
        """A model that cannot run in the mode is refused now (UserError: 400), before any rebuild."""
        if new.model == loader.AUTO or loader.is_path(new.model):
            return
        model = loader.load(new.model)
        check_mode(model, new.degrade, new.upscale)

    def _rebuild(self, new: Settings) -> None:
        try:
            sharp, described = self.build(new)
            old = self.pipeline.sharpener
            sharp.enabled, sharp.strength, sharp.split = old.enabled, old.strength, old.split
            sharp.temporal.mode = old.temporal.mode
            sharp.skip_static = old.skip_static
            self.pipeline.sharpener = sharp  # the worker takes it for its next frame
            with self._lock:
                self.settings = dataclasses.replace(new, strength=old.strength, split=old.split,
                                                    temporal=old.temporal.mode, skip_static=old.skip_static)
            self.info.update(described)
            self.error = None
            log.info("panel: now %s, %s (sharpener rebuilt; camera and outputs kept)", described.get("model"),
                        described.get("mode"))
        except Exception as e:  # noqa: BLE001 - a failed change keeps the running sharpener
            self.error = (f"could not switch to {new.model}: {' '.join(str(e).split())}; the previous model keeps "
                          "running")
            log.warning("panel: %s", self.error)
        finally:
            self.rebuilding = None
            self.on_state(self.pipeline.state())

    def save_settings(self, values: dict) -> Path:
        path = config_edit.save(values)
        log.info("panel: saved %s to %s", ", ".join(values), path)
        return path

    def hooks(self) -> PanelHooks:
        return PanelHooks(status=self.status, apply=self.apply, current=self.current,
                          save_settings=self.save_settings, models=self.models, defaults=mode_defaults())


class PanelHandle:
    """The panel of one daemon run: its socket from the start, its server once the pipeline exists."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sock = bind(settings.panel_host, settings.panel_port)
        self.url = url(self.sock)
        self.guard = Guard(settings.panel_host, self.sock.getsockname()[1])
        self.server: WebServer | None = None
        self.hub = None
        self.controller: PanelController | None = None
        if settings.panel_host not in ("127.0.0.1", "::1"):
            log.warning("the panel listens on %s: anyone who reaches that address can change the camera", self.url)

    def start(self, pipeline, info: dict, on_state, build, cpu=None, controller: PanelController | None = None) -> str:
        """Serve the panel for ``pipeline``; returns its URL (also put into ``info`` as ``panel_url``).
        ``controller``: the daemon's own (shared with ``vcam-sharpen set``); else one is made here."""
        self.controller = controller or PanelController(self.settings, pipeline, info, on_state, build, cpu)
        app, self.hub = create_panel(pipeline, self.controller.hooks(), self.guard)
        self.hub.start()
        self.server = WebServer(app, self.sock).start()
        info["panel_url"] = self.url
        log.info("control panel: %s", self.url)
        return self.url

    def stop(self) -> None:
        if self.hub is not None:
            self.hub.close()
        if self.server is not None:
            self.server.stop()
        else:
            self.sock.close()
