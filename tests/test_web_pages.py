"""The pages and assets ship inside the package (no CDN, nothing fetched), and JSON bodies are checked."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import pytest
from conftest import REPO

from vcam_sharpen.web import pages
from vcam_sharpen.web.pages import ASSETS, BadRequest, asset, json_object, page


def test_every_page_and_asset_is_package_data_and_refers_to_nothing_outside():
    for name in [*ASSETS, "panel.html", "mos.html"]:
        text = asset(name).decode()
        assert not re.search(r"(https?:)?//[a-z]", text.replace("http://127.0.0.1", "")), name  # no CDN, no fonts
    html = page("mos.html", csrf="TOKEN", base="/mos/", count="3").body.decode()
    assert 'content="TOKEN"' in html and 'src="/mos/static/mos.js"' in html and "{{" not in html


class Fake:
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def body(self) -> bytes:
        return self._body


@pytest.mark.parametrize("body, words", [(b"{", "not JSON"), (b"\xff\xfe", "not JSON"), (b"[1]", "JSON object"),
                                         (b'"x"', "JSON object")])
def test_json_bodies(body, words):
    with pytest.raises(BadRequest, match=words):
        asyncio.run(json_object(Fake(body)))
    assert asyncio.run(json_object(Fake(b'{"a": 1}'))) == {"a": 1}
    assert pages.error(418, "x").status_code == 418


@pytest.mark.slow  # a real process (python -m vcam_sharpen / train): seconds of imports each
def test_a_non_editable_install_ships_the_pages(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(tmp_path / "site"), str(REPO)], check=True, cwd=tmp_path, timeout=300)
    static = tmp_path / "site" / "vcam_sharpen" / "web" / "static"
    assert sorted(p.name for p in static.iterdir()) == sorted([*ASSETS, "panel.html", "mos.html"])


@pytest.mark.parametrize("raw, words", [
    (b"[" * 30_000 + b"]" * 30_000, "nests deeper than 8"), (b'{"a": ' + b"1" * 19 + b"}", "at most 18"),
    (b'{"a": 1e400}', "too large"), (b'{"a": -Infinity}', "not JSON"), (b'{"a": NaN}', "not JSON"),
])
def test_bodies_are_bounded_before_python_parses_them(raw, words):
    with pytest.raises(BadRequest, match=words):
        pages.parse_json(raw)
    brackets_in_strings = b'{"a": "' + b"[" * 100 + b'"}'
    assert pages.parse_json(brackets_in_strings) == {"a": "[" * 100}  # only real nesting counts
    assert pages.parse_json(b'{"a": [[[[[[[1]]]]]]], "b": ' + b"9" * 18 + b"}")["b"] == int("9" * 18)
