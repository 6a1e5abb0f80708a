"""The HTML/SVG timeline: self-contained, marks the culprit and the prefix."""

from __future__ import annotations

from pathlib import Path

from lab.checker import RegisterModel, check, render_html, render_partition_svg, write_html
from tests.checker.helpers import ops


def _invalid():
    return check(
        RegisterModel(), ops(("w", 1, 0, 1), ("w", 2, 2, 3), ("r", 1, 4, 5), ("w", 5, 1, None))
    )


def test_svg_marks_culprit_prefix_and_hover_text() -> None:
    svg = render_partition_svg(_invalid().invalid[0])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "#d62728" in svg  # the culprit
    assert "could not be placed" in svg and "linearized #1" in svg
    assert "<title>#2 p2 read() -&gt; 1" in svg
    assert "unknown (may or may not have happened)" in svg


def test_page_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_html(_invalid(), out, title="t")
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "INVALID" in page
    assert "<script" not in page and "https://" not in page
    assert page.count("http://") == page.count('xmlns="http://www.w3.org/2000/svg"')


def test_valid_page() -> None:
    page = render_html(check(RegisterModel(), ops(("w", 1, 0, 1))))
    assert "VALID" in page and "<svg" not in page
