"""Making a study: the same 2x protocol as eval, blind names, the hidden reference, the trap, nothing half-made."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest_daemon import FACE_CLIP, requires_face
from conftest_web import make_study, picture

from vcam_sharpen.core.baselines import Bilinear
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.quality import mos_study
from vcam_sharpen.quality.evaluate import restore, to_images, to_tensor


def read(folder, stim) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(folder / stim["file"])), cv2.COLOR_BGR2RGB)


def test_a_study_of_one_picture(tmp_path):
    folder, m = make_study(tmp_path, methods="bilinear,unsharp")
    assert m["format"] == mos_study.STUDY_FORMAT and m["methods"] == ["reference", "bilinear", "unsharp"]
    assert [(s["method"], s["kind"]) for s in m["stimuli"]] == [("reference", "still"), ("bilinear", "still"),
                                                                ("unsharp", "still"), ("bilinear", "trap")]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(s["file"] for s in m["stimuli"]), "manifest.json"])
    assert len({s["id"] for s in m["stimuli"]}) == 4 and all("bilinear" not in s["file"] for s in m["stimuli"])
    by = {(s["method"], s["kind"]): s for s in m["stimuli"]}
    original = cv2.cvtColor(cv2.imread(str(tmp_path / "pictures" / "test.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(read(folder, by["reference", "still"]), original)  # the untouched original
    gt = to_tensor(original[None])
    expect = np.round(to_images(restore(Bilinear(), gt, 2)[1])[0] * 255).astype(np.uint8)
    assert np.array_equal(read(folder, by["bilinear", "still"]), expect)  # eval's degradation, exactly
    trap = by["bilinear", "trap"]
    assert trap["expected"] == 2 and (read(folder, trap) == 255).all(axis=2).mean() > 0.2  # the banner
    assert mos_study.load_manifest(folder) == json.loads((folder / "manifest.json").read_text())
    assert not any("crop" in s for s in m["stimuli"])  # small enough to be shown whole everywhere


def test_a_large_picture_gets_one_1to1_crop_per_content_where_the_detail_is(tmp_path):
    img = np.full((720, 1280, 3), 128, np.uint8)
    rng = np.random.default_rng(1)
    img[400:700, 900:1250] = rng.integers(0, 256, (300, 350, 3), np.uint8)  # the detail: bottom right
    (tmp_path / "pictures").mkdir()
    cv2.imwrite(str(tmp_path / "pictures" / "big.png"), img)
    folder = tmp_path / "study"
    m = mos_study.prepare(out=folder, video=None, set5=None, images=[tmp_path / "pictures"], methods="bilinear")
    boxes = {(s["crop"]["x"], s["crop"]["y"], s["crop"]["width"], s["crop"]["height"]) for s in m["stimuli"]}
    assert len(boxes) == 1  # the same window for every method of the content, the trap included
    x, y, w, h = boxes.pop()
    assert (w, h) == mos_study.CROP and x <= 900 and x + w >= 1250 and y <= 400 and y + h >= 700
    for stim in m["stimuli"]:  # the crop is the picture's own pixels, 1:1
        crop = cv2.cvtColor(cv2.imread(str(folder / stim["crop"]["file"])), cv2.COLOR_BGR2RGB)
        assert stim["crop"]["file"] == f"{stim['id']}-crop.png"
        assert np.array_equal(crop, read(folder, stim)[y:y + h, x:x + w])
    trap = next(s for s in m["stimuli"] if s["kind"] == "trap")
    crop = cv2.imread(str(folder / trap["crop"]["file"]))
    assert (crop == 255).all(axis=2).mean() > 0.1  # the banner is in the crop
    (folder / trap["crop"]["file"]).unlink()
    with pytest.raises(UserError, match="malformed or its picture is missing"):
        mos_study.load_manifest(folder)
    assert mos_study.choose_crop(np.zeros((500, 900, 3), np.uint8)) is None
    assert mos_study.choose_crop(np.zeros((600, 900, 3), np.uint8)) == (0, 30, 900, 540)  # flat: the centre


def test_refusals_create_nothing(tmp_path):
    picture(tmp_path / "pics" / "a.png")
    cases = [
        (dict(images=[tmp_path / "pics"], methods="bilinear,nope"), "unknown model"),
        (dict(images=[tmp_path / "pics"], methods="reference"), "not a method here"),
        (dict(images=[tmp_path / "pics"], methods="bilinear,bilinear"), "twice"),
        (dict(images=[tmp_path / "missing"]), "not a folder"),
        (dict(video=tmp_path / "missing.mp4"), "does not exist"),
        (dict(), "no content"),
    ]
    for kwargs, words in cases:
        args = {"out": tmp_path / "study", "video": None, "set5": None, **kwargs}
        with pytest.raises(UserError, match=words):
            mos_study.prepare(**args)
        assert not (tmp_path / "study").exists()
    with pytest.raises(UserError, match="does not exist"):
        mos_study.prepare(out=tmp_path / "no" / "study", video=None, set5=None, images=[tmp_path / "pics"])
    assert not (tmp_path / "no").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pics"]  # no temporary folder left behind


def test_pictures_of_people_are_refused(tmp_path):
    people = tmp_path / "shared" / "data" / "people"
    picture(people / "face.png")
    (tmp_path / "shared" / "data" / "LICENSES-hr-people.md").write_text("research only")
    for kwargs in (dict(images=[people]), dict(video=people / "face.png"), dict(set5=people)):
        with pytest.raises(UserError, match="licence forbids publishing"):
            mos_study.prepare(out=tmp_path / "study", **{"video": None, "set5": None, **kwargs})
    assert not (tmp_path / "study").exists()


def test_an_existing_study_is_replaced_only_with_force(tmp_path):
    folder, first = make_study(tmp_path, methods="bilinear")
    with pytest.raises(UserError, match="--force"):
        mos_study.prepare(out=folder, video=None, set5=None, images=[tmp_path / "pictures"], methods="bilinear")
    assert mos_study.load_manifest(folder)["study"] == first["study"]
    second = mos_study.prepare(out=folder, video=None, set5=None, images=[tmp_path / "pictures"], methods="unsharp",
                               force=True)
    assert mos_study.load_manifest(folder)["study"] == second["study"] != first["study"]
    assert len(list(folder.glob("*.png"))) == len(second["stimuli"])
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not a study folder"):
        mos_study.prepare(out=tmp_path / "junk", video=None, set5=None, images=[tmp_path / "pictures"], force=True)
    assert (tmp_path / "junk" / "keep.txt").read_text() == "mine"


def test_a_damaged_manifest_is_one_line(tmp_path):
    with pytest.raises(UserError, match="mos prepare"):
        mos_study.load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "vcam-sharpen-mos-study", "stimuli": [{"id": "../x"}]}')
    with pytest.raises(UserError, match="malformed"):
        mos_study.load_manifest(tmp_path)


@requires_face
def test_stills_from_the_face_clip(tmp_path):
    torch.set_num_threads(2)
    m = mos_study.prepare(out=tmp_path / "study", video=FACE_CLIP, stills=1, set5=None, methods="bilinear,student",
                          trap=False)
    assert [s["method"] for s in m["stimuli"]] == ["reference", "bilinear", "student"]
    assert all((s["width"], s["height"]) == (1280, 720) for s in m["stimuli"])
    assert m["contents"][0].startswith("video:face_1280x720:f")
