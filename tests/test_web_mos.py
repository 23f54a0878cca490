"""The MOS study page: anonymous raters, a blind random order each, one rating per stimulus, the trap."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from conftest_web import client, make_study, token_of

from vcam_sharpen.quality.mos_store import Store
from vcam_sharpen.web.mos_app import COOKIE, create_mos
from vcam_sharpen.web.security import Guard


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    folder, manifest = make_study(tmp_path)
    db = tmp_path / "ratings.sqlite"
    return folder, manifest, db


def session(study):
    folder, manifest, db = study
    c = client(create_mos(Guard("127.0.0.1", 8717), folder, db))
    page = c.get("/")
    h = {"X-CSRF-Token": token_of(page.text)}
    return c, h, page


def test_the_page_tells_the_scale_and_creates_nothing(study):
    c, h, page = session(study)
    text = re.sub(r"<[^>]+>", "", page.text)
    assert page.status_code == 200 and "5 Excellent" in text and "1 Bad" in text and "5. 5" not in text
    assert "You will see 5 pictures" in page.text and "{{" not in page.text
    assert not study[2].exists()  # the database appears with the first rater


def test_a_rater_rates_every_stimulus_once_in_an_order_of_their_own(study):
    folder, manifest, db = study
    c, h, _ = session(study)
    first_session = c.post("/api/session", json={}, headers=h)
    s = first_session.json()
    cookie = first_session.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    rater = c.cookies[COOKIE]
    assert len(rater) == 32 and s["total"] == 5 and s["done"] == 0
    assert sorted(s["queue"]) == sorted(x["id"] for x in manifest["stimuli"])
    stim = {x["id"]: x for x in manifest["stimuli"]}
    first = c.get(f"/stimulus/{s['queue'][0]}.png")
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert stim[s["queue"][0]]["method"] not in first.headers.get("content-disposition", "")
    r = c.post("/api/rate", json={"stimulus": s["queue"][0], "score": stim[s["queue"][0]].get("expected", 4)},
               headers=h)
    assert r.status_code == 200 and r.json()["done"] == 1
    again = c.post("/api/session", json={}, headers=h).json()  # a reload resumes
    assert again["queue"] == s["queue"][1:] and again["done"] == 1 and c.cookies[COOKIE] == rater
    assert c.post("/api/rate", json={"stimulus": s["queue"][0], "score": 2}, headers=h).status_code == 409
    for sid in again["queue"]:
        score = stim[sid].get("expected", 5)
        assert c.post("/api/rate", json={"stimulus": sid, "score": score}, headers=h).status_code == 200
    with Store(db) as store:
        rows = store.ratings(manifest["study"])
    assert len(rows) == 5 and {r["rater"] for r in rows} == {rater} and not any(r["flagged"] for r in rows)
    other, h2, _ = session(study)
    q2 = other.post("/api/session", json={}, headers=h2).json()["queue"]
    assert other.cookies[COOKIE] != rater and sorted(q2) == sorted(s["queue"])


@pytest.mark.parametrize("body, status, words", [
    ({"stimulus": "0" * 16, "score": 3}, 404, "no such stimulus"), ({"stimulus": "../../etc/passwd", "score": 3}, 404,
                                                                  "no such stimulus"),
    ({"score": 3}, 400, "exactly"), ({"stimulus": None, "score": 3, "x": 1}, 400, "exactly"),
])
def test_bad_ratings_are_refused_with_a_message(study, body, status, words):
    c, h, _ = session(study)
    c.post("/api/session", json={}, headers=h)
    r = c.post("/api/rate", json=body, headers=h)
    assert r.status_code == status and words in r.json()["error"]


@pytest.mark.parametrize("score", [0, 6, 2.5, "5", True, None])
def test_scores_outside_the_scale_are_refused(study, score):
    c, h, _ = session(study)
    sid = c.post("/api/session", json={}, headers=h).json()["queue"][0]
    r = c.post("/api/rate", json={"stimulus": sid, "score": score}, headers=h)
    assert r.status_code == 400 and "1 (Bad) to 5 (Excellent)" in r.json()["error"]


def test_no_rater_no_token_no_rating(study):
    c, h, _ = session(study)
    sid = c.post("/api/session", json={}, headers=h).json()["queue"][0]
    c.cookies.clear()
    r = c.post("/api/rate", json={"stimulus": sid, "score": 3}, headers=h)
    assert r.status_code == 400 and "reload the page" in r.json()["error"]
    c.cookies.set(COOKIE, "f" * 32)  # a made-up rater id
    assert c.post("/api/rate", json={"stimulus": sid, "score": 3}, headers=h).status_code == 400
    assert c.post("/api/rate", json={"stimulus": sid, "score": 3}).status_code == 403


def test_missing_the_trap_flags_the_rater_and_keeps_the_ratings(study):
    folder, manifest, db = study
    c, h, _ = session(study)
    c.post("/api/session", json={}, headers=h)
    trap = next(x for x in manifest["stimuli"] if x["kind"] == "trap")
    assert trap["expected"] == 2
    assert c.post("/api/rate", json={"stimulus": trap["id"], "score": 5}, headers=h).status_code == 200
    with Store(db) as store:
        (row,) = store.ratings()
    assert row["flagged"] and row["score"] == 5


def test_stimuli_are_served_by_their_blind_names_only(study):
    c, _, _ = session(study)
    assert c.get("/stimulus/manifest.png").status_code == 404
    assert c.get("/stimulus/..%2fmanifest.json.png").status_code == 404
    assert c.get("/static/mos.js").status_code == 200


def test_the_page_gets_each_size_and_a_large_picture_its_crop(study, tmp_path):
    c, h, _ = session(study)
    s = c.post("/api/session", json={}, headers=h).json()
    assert set(s["sizes"]) == set(s["queue"]) and all(v == [96, 64] for v in s["sizes"].values())  # no crop
    assert c.get(f"/stimulus/{s['queue'][0]}-crop.png").status_code == 404
    big = tmp_path / "big"
    (big / "pictures").mkdir(parents=True)
    cv2.imwrite(str(big / "pictures" / "a.png"), np.random.default_rng(0).integers(0, 256, (720, 1280, 3), np.uint8))
    folder, _ = make_study(big, methods="bilinear", picture_made=True)
    c = client(create_mos(Guard("127.0.0.1", 8717), folder, tmp_path / "big.sqlite"))
    h = {"X-CSRF-Token": token_of(c.get("/").text)}
    s = c.post("/api/session", json={}, headers=h).json()
    assert all(v == [1280, 720, 960, 540] for v in s["sizes"].values())
    r = c.get(f"/stimulus/{s['queue'][0]}-crop.png")
    assert r.status_code == 200 and cv2.imdecode(np.frombuffer(r.content, np.uint8), 1).shape == (540, 960, 3)


@pytest.mark.parametrize("raw", [b"[" * 30_000 + b"]" * 30_000, b'{"stimulus": {}, "score": 3}',
                                 b'{"stimulus": [], "score": 3}', b'{"stimulus": "x", "score": ' + b"9" * 400 + b"}",
                                 b'{"stimulus": "x", "score": NaN}'])
def test_hostile_json_is_a_4xx_never_a_500(study, raw):
    c, h, _ = session(study)
    c.post("/api/session", json={}, headers=h)
    r = c.post("/api/rate", content=raw, headers={**h, "Content-Type": "application/json"})
    assert r.status_code in (400, 404) and r.json()["error"], r.text
    r = c.post("/api/session", content=raw, headers={**h, "Content-Type": "application/json"})
    assert r.status_code < 500, r.text  # the session takes any object and ignores it; the rest is a 400
