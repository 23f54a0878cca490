"""Making a MOS study: the stimuli a rater sees, and the manifest that says what each one is.

``vcam-sharpen mos prepare`` takes stills from the face clip, Set5 and any folder of images,
runs each through the same 2x protocol as ``eval`` (:func:`vcam_sharpen.quality.evaluate.restore`:
bilinear downscale by 2 and back, then the method; :mod:`vcam_sharpen.core.degrade`) for every
method, and writes one PNG per (content, method) under a random name, so the file name tells a
rater nothing. The untouched original of each content is among them as the *hidden reference*
(method ``reference``), and one *trap* stimulus carries an on-screen instruction to rate it
Poor (P.808-style quality control). The study folder is built beside its destination and
renamed into place: a failed prepare leaves nothing behind.

No rater may see a rescaled picture: the page shows a stimulus at 1:1 where it fits the window, else its
*crop*, a :data:`CROP` window at 1:1 that prepare chooses once per content (where the reference has the most
detail, :func:`choose_crop`), the same window for every method of that content, and stores beside it
(``ID-crop.png``; ``crop`` in the manifest).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from ..core import loader
from ..core.errors import UserError
from ..core.files import check_writable
from ..core.paths import data_home
from ..io.sources import DemoSource
from .datasets import IMAGE_SUFFIXES, read_folder
from .evaluate import modcrop, restore, to_images, to_tensor
from .mos_stats import REFERENCE
from .report import methods as method_rows

STUDY_FORMAT = "vcam-sharpen-mos-study"
MANIFEST = "manifest.json"
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DEFAULT_VIDEO = SHARED_DATA / "video" / "face_1280x720.mp4"
DEFAULT_SET5 = SHARED_DATA / "sr" / "set5"
DEMO = "demo"  # --video demo: stills of the built-in demo scene (shipped in the package; works from anywhere)
DEMO_SIZE, DEMO_FRAMES = (1280, 720), 300
DEFAULT_METHODS = "bilinear,unsharp,student,student-deep,teacher"
TRAP_SCORE = 2  # "Poor"
# The largest picture shown whole: bigger ones also get a 1:1 crop of this size (it fits a 1280x800 window
# with the page's bars, and a 1366x768 laptop's browser).
CROP = (960, 540)
TRAP_TEXT = ("Attention check:", "please rate this picture Poor (2)")
PROTOCOL = ("ITU-T P.910 absolute category rating (5 Excellent .. 1 Bad), hidden reference, one trap (P.808); "
            "stimuli: 2x bilinear down/up (vcam_sharpen.core.degrade), then each method")


def default_dir() -> Path:
    """``$XDG_DATA_HOME/vcam-sharpen/mos``: the study folder ``mos serve`` and the panel show."""
    return data_home() / "mos"


def check_publishable(path: Path) -> None:
    """Refuse pictures of people whose licence forbids publishing them (``shared/data/people``)."""
    p = Path(path).expanduser().resolve()
    for folder in (p, *p.parents):
        if folder.name == "people" and ((folder.parent / "LICENSES-hr-people.md").exists()
                                        or folder.parent.name == "data"):
            raise UserError(f"{path}: the pictures under {folder} may not be shown in a study (their licence "
                            "forbids publishing them); use Set5, the face clip or your own images")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:60] or "x"


def video_stills(path: Path, count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` RGB frames spread evenly over the video (never its first or last)."""
    check_publishable(path)
    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.error.FFmpegError, OSError, IndexError) as e:
        raise UserError(f"--video {path}: cannot decode it ({type(e).__name__}); pass another video") from None
    if not frames:
        raise UserError(f"--video {path}: no frames")
    picks = sorted({int(len(frames) * (i + 1) / (count + 1)) for i in range(count)})
    return [(f"video:{_slug(Path(path).stem)}:f{k:04d}", frames[k]) for k in picks]


def demo_stills(count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` RGB frames of the built-in demo scene (:class:`~vcam_sharpen.io.sources.DemoSource`),
    spread over its first ten seconds like :func:`video_stills`."""
    scene = DemoSource(DEMO_SIZE, paced=False)
    picks = sorted({int(DEMO_FRAMES * (i + 1) / (count + 1)) for i in range(count)})
    return [(f"demo:f{k:04d}", np.ascontiguousarray(scene.frame_at(k)[:, :, ::-1])) for k in picks]


def is_demo(video) -> bool:
    return video is not None and str(video) == DEMO and not Path(video).exists()


def folder_images(folder: Path, prefix: str) -> list[tuple[str, np.ndarray]]:
    check_publishable(folder)
    stems = [p.stem for p in sorted(Path(folder).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    images = read_folder(Path(folder))  # the same files, in the same order
    return [(f"{prefix}:{_slug(s)}", img) for s, img in zip(stems, images)]


def trap_image(img: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """``img`` (RGB uint8) with a white banner asking for a Poor rating across the middle of ``box``
    (``x, y, w, h``; default the whole picture), so the crop shows it whole too."""
    out = img.copy()
    x, y, w, h = box if box is not None else (0, 0, out.shape[1], out.shape[0])
    scale = max(0.5, min(2.0, w / 700))
    bar = min(h, int(80 * scale))
    top = y + max(0, h // 2 - bar // 2)
    out[top:top + bar, x:x + w] = 255
    for i, line in enumerate(TRAP_TEXT):
        cv2.putText(out, line, (x + int(12 * scale), top + int((32 + 34 * i) * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.8 * scale, (200, 0, 0), max(1, int(2 * scale)), cv2.LINE_AA)
    return out


def choose_crop(img: np.ndarray, size: tuple[int, int] = CROP) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)``: the ``size`` window of ``img`` (RGB uint8) with the most detail (the sum of gradient
    magnitudes, on a 16-pixel grid of positions and the centre; ties to the one nearest the centre), or None
    when the picture fits in ``size`` whole."""
    h, w = img.shape[:2]
    cw, ch = min(size[0], w), min(size[1], h)
    if (cw, ch) == (w, h):
        return None
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    energy = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    total = cv2.integral(energy.astype(np.float64))
    best = None
    for y in sorted({*range(0, h - ch + 1, 16), h - ch, (h - ch) // 2}):
        for x in sorted({*range(0, w - cw + 1, 16), w - cw, (w - cw) // 2}):
            detail = total[y + ch, x + cw] - total[y, x + cw] - total[y + ch, x] + total[y, x]
            key = (round(detail, 3), -abs(x + cw / 2 - w / 2) - abs(y + ch / 2 - h / 2))
            if best is None or key > best[0]:
                best = (key, (x, y, cw, ch))
    return best[1]


@torch.no_grad()
def process(images: list[tuple[str, np.ndarray]], rows: list, progress=None) -> list[tuple[str, str, np.ndarray]]:
    """``(content, method, RGB uint8)`` for every image and method, plus each original as the reference."""
    out = []
    for content, img in images:
        img = modcrop(img, 2)
        out.append((content, REFERENCE, img))
        gt = to_tensor(img[None])
        for label, module, _ in rows:
            restored = to_images(restore(module, gt, 2)[1])[0]
            if not np.isfinite(restored).all():
                raise UserError(f"method {label}: its output is not finite (the model outputs NaN or Inf)")
            out.append((content, label, np.round(restored * 255).astype(np.uint8)))
            if progress is not None:
                progress(content, label)
    return out


def check_methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise UserError("--methods is empty; pass e.g. --methods bilinear,unsharp,student")
    for m in names:
        if m in (REFERENCE, loader.AUTO) or loader.check(m) in ("none", "default"):
            raise UserError(f"--methods {m}: not a method here (the reference is always included; name the model "
                            "itself, e.g. student)")
    if len(set(names)) != len(names):
        raise UserError(f"--methods {text}: a method is listed twice")
    return names


def prepare(out: Path | None = None, video: Path | None = DEFAULT_VIDEO, stills: int = 2,
            set5: Path | None = DEFAULT_SET5, images: list[Path] = (), methods: str = DEFAULT_METHODS,
            trap: bool = True, force: bool = False, progress=None) -> dict:
    """Write a study folder (PNG stimuli and ``manifest.json``); returns the manifest.

    Every input is checked before any picture is made; the folder appears whole or not at all.
    Raises:
        UserError: no content, a missing or forbidden input, an unknown method, an occupied ``out``.
    """
    out = Path(out) if out is not None else default_dir()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file())):
        raise UserError(f"--out {out} exists and is not a study folder; pick another --out")
    if (out / MANIFEST).is_file() and not force:
        raise UserError(f"--out {out} already holds a study; pass --force to replace it (its ratings stay in the "
                        "database), or pick another --out")
    if out != default_dir() and not out.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist; create it first")
    check_writable(out, "--out")  # a read-only file system: said now, not after every picture is made
    for p, what in ([(video, "--video")] if video else []) + ([(set5, "--set5")] if set5 else []) + \
            [(p, "--images") for p in images]:
        if what == "--video" and is_demo(p):
            continue
        check_publishable(p)
        if what == "--video" and not Path(p).is_file():
            raise UserError(f"--video {p} does not exist; pass a video file or --video none")
        if what != "--video" and not Path(p).is_dir():
            raise UserError(f"{what} {p} is not a folder of images")
    names = check_methods(methods)
    rows = method_rows(",".join(names))  # loads every model now: a bad one fails before any work
    contents = demo_stills(stills) if is_demo(video) else video_stills(Path(video), stills) if video else []
    if set5:
        contents += folder_images(Path(set5), "set5")
    for folder in images:
        contents += folder_images(Path(folder), _slug(Path(folder).name))
    if not contents:
        raise UserError("no content for the study: pass --video, --set5 or --images")
    made = process(contents, rows, progress)
    manifest = {"format": STUDY_FORMAT, "version": 1, "study": "s" + secrets.token_hex(6), "created": time.time(),
                "protocol": PROTOCOL, "contents": [c for c, _ in contents], "methods": [REFERENCE, *names],
                "stimuli": []}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise UserError(f"--out {out}: cannot create the study folder ({e.strerror}); pick a writable folder") \
            from None
    try:
        crops = {c: choose_crop(img) for c, m, img in made if m == REFERENCE}
        pictures = [(c, m, "still", None, img) for c, m, img in made]
        if trap:
            first = next(img for c, m, img in made if m == names[0])
            pictures.append((made[0][0], names[0], "trap", TRAP_SCORE, trap_image(first, crops[made[0][0]])))
        for content, method, kind, expected, img in pictures:
            sid = secrets.token_hex(8)
            stim = {"id": sid, "file": f"{sid}.png", "content": content, "method": method, "kind": kind,
                    "width": int(img.shape[1]), "height": int(img.shape[0])}
            box = crops[content]
            shots = [(stim["file"], img)]
            if box is not None:
                x, y, w, h = box
                stim["crop"] = {"file": f"{sid}-crop.png", "x": x, "y": y, "width": w, "height": h}
                shots.append((stim["crop"]["file"], img[y:y + h, x:x + w]))
            for name, pic in shots:
                if not cv2.imwrite(str(tmp / name), cv2.cvtColor(pic, cv2.COLOR_RGB2BGR)):
                    raise UserError(f"cannot write into {out.parent} (full or read-only?)")
            if expected is not None:
                stim["expected"] = expected
            manifest["stimuli"].append(stim)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))  # a full disk: OSError, caught below
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{secrets.token_hex(4)}")
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"--out {out}: cannot write the study ({e.strerror}); pick a writable "
                        f"folder with free space") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def load_manifest(folder: Path | None = None) -> dict:
    """The study in ``folder`` (default :func:`default_dir`), its stimuli checked against their files."""
    folder = Path(folder) if folder is not None else default_dir()
    path = folder / MANIFEST
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"no study in {folder}; make one with: vcam-sharpen mos prepare") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable study manifest ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != STUDY_FORMAT or not isinstance(doc.get("stimuli"), list):
        raise UserError(f"{path} is not a vcam-sharpen study manifest; make one with: vcam-sharpen mos prepare")
    for s in doc["stimuli"]:
        if not (isinstance(s, dict) and re.fullmatch(r"[0-9a-f]{16}", str(s.get("id")))
                and s.get("file") == f"{s['id']}.png" and (folder / s["file"]).is_file()
                and ("crop" not in s or (isinstance(s["crop"], dict)
                                         and s["crop"].get("file") == f"{s['id']}-crop.png"
                                         and (folder / s["crop"]["file"]).is_file()))):
            raise UserError(f"{path}: stimulus {s!r:.80} is malformed or its picture is missing; prepare it again")
    return doc
