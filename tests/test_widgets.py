"""The one page-side escaper (app_pages/widgets.py) and the map's outline geometry (#13, #14)."""

from __future__ import annotations

import re

import pytest

from app_pages.widgets import code, h, html_text, md
from p2p_store.community.geometry import simplify_outlines, simplify_ring

HOSTILE = ["![x](http://evil)", "[click](javascript:alert(1))", ":red[boom] :material/delete:", "$x^2$",
           "<img src=x onerror=alert(1)>", "**bold** _it_ ~~gone~~ `code`", "# Heading", "- item", "1. first",
           "> quote", "a | b | c", "&lt;b&gt;", "back\\slash \\*", "Omar Al-Qahtani", "{{braces}}", "===", "+ plus"]
SPECIAL = set("\\`*_{}[]()<>#+-!|~$:&")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@pytest.mark.parametrize("text", HOSTILE)
def test_md_escapes_every_markdown_and_directive_character(text):
    out = md(text)
    i = 0
    while i < len(out):  # every special character is preceded by its own backslash
        if out[i] == "\\":
            i += 2
            continue
        assert out[i] not in SPECIAL, (text, out, i)
        i += 1
    assert _unescape(out) == " ".join(text.split())  # shown as written
    assert not re.match(r"\s*([-=]|\d+[.)])", out)  # nothing that starts a list, rule or heading


def test_md_keeps_lines_of_a_body_and_escapes_each_line_start():
    out = md("intro\n- not a list\n2. not numbered\n---", keep_lines=True)
    assert out.splitlines() == ["intro", "\\- not a list", "2\\. not numbered", "\\-\\-\\-"]
    assert md("a\n\nb") == "a b" and md(None) == ""


def test_html_helpers_and_code_spans():
    assert h('<b title="x">&') == "&lt;b title=&quot;x&quot;&gt;&amp;"
    assert html_text("one <i>\n\n two") == "one &lt;i&gt;<br> two"
    assert code("last_seed") == "`last_seed`"
    assert code("a`b") == "``a`b``" and code("`x") == "`` `x ``"


def test_outline_simplification_drops_points_on_the_chord_only():
    ring = [[0.0, 0.0], [1.0, 0.0005], [2.0, 0.0], [2.0, 2.0], [0.5, 1.5], [0.0, 0.0]]
    assert simplify_ring(ring, 0.01) == [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.5, 1.5], [0.0, 0.0]]
    assert simplify_ring(ring, 0.0001) == ring
    square = {"type": "Polygon", "coordinates": [ring]}
    tiny = {"type": "Polygon", "coordinates": [[[0, 0], [0.001, 0], [0, 0.001], [0, 0]]]}
    out = simplify_outlines({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"n": 1}, "geometry": square},
        {"type": "Feature", "properties": {"n": 2}, "geometry": tiny}]}, 0.01)
    assert [f["properties"]["n"] for f in out["features"]] == [1]  # the tiny triangle collapses: dropped
    assert out["features"][0]["geometry"] == {"type": "MultiPolygon", "coordinates": [[simplify_ring(ring, 0.01)]]}
