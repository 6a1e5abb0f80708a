"""The load report: its status banner (as the chaos report's), its charts' axes, and the page
in a real browser (skipped without Chromium)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from lab.load.gates import compare
from lab.load.report import latency_chart, load_status, render, timeline_chart, write_report
from lab.report.browser import dump_dom, find_chromium, screenshot
from tests.load.crafted import results as crafted
from tests.load.crafted import workload

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="no chromium binary on PATH (apt-get install chromium; or set ASPEN_CHROMIUM)",
)


def run_with(kind: str) -> dict[str, Any]:
    """A load run whose banner should read ``kind``'s status."""
    base = crafted({"A": workload(1000.0, 10.0)})
    run = crafted(
        {"A": workload(800.0 if kind == "failed" else 1000.0, 10.0), "B": workload(5.0, 0.2)}
    )
    if kind in ("passed", "failed", "interrupted", "error"):
        run["gates"] = compare(run, base)
    if kind == "interrupted":
        run["interrupted"] = True
    if kind == "error":
        run["error"] = "OSError: address in use"
    return run


def banner(html: str) -> tuple[str, str]:
    m = re.search(r'<div class="banner (\w+)" id="status" data-status="(\w+)">', html)
    assert m, "no status banner"
    return m.group(1), m.group(2)


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("passed", "valid"),
        ("failed", "invalid"),
        ("none", "valid"),
        ("interrupted", "interrupted"),
        ("error", "unknown"),
    ],
)
def test_the_banner_says_what_the_gates_say(kind: str, status: str) -> None:
    run = run_with(kind)
    html = render(run)
    assert banner(html) == (status, status)
    assert f'<body data-status="{status}">' in html
    assert load_status(run)[0] == status
    if kind == "none":
        assert "no baseline: no gates were checked" in html
    if kind == "failed":
        assert "A throughput" in load_status(run)[1]


def test_the_page_uses_the_chaos_reports_stylesheet() -> None:
    css = (Path(__file__).parents[2] / "lab/report/templates/_style.css").read_text()
    assert css.strip() in render(run_with("passed"))


def tick_labels(svg: str) -> list[str]:
    """The strings of an SVG: as comments before their paths (text drawn as paths, this
    report's default) or as ``<text>`` (``svg.fonttype`` none, if another figure set it)."""
    texts = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)]
    return re.findall(r"<!-- (.*?) -->", svg) + [t.strip() for t in texts]


def test_latency_ticks_are_plain_numbers_and_ops_axes_start_at_zero() -> None:
    run = run_with("passed")
    run["workloads"]["A"]["timeline"] = [900, 1100] * 5
    run["workloads"]["A"]["ramp"] = {
        "p99_bound_ms": 50,
        "steps": [
            {"rate": r, "throughput": r, "latency_ms": {"p50": r / 100, "p99": r / 10},
             "error_rate": 0.0, "passed": r <= 500}
            for r in (100, 300, 500, 700)
        ],
        "knee_rate": 500,
    }  # fmt: skip
    html = render(run)
    labels = [t for svg in re.findall(r"<svg.*?</svg>", html, re.S) for t in tick_labels(svg)]
    assert labels and not [t for t in labels if "e+" in t or "e-" in t or "^" in t], labels
    assert "latency (ms, log)" in tick_labels(latency_chart(run["workloads"]))
    assert "0" in tick_labels(timeline_chart(run["workloads"]))


@needs_chromium
@pytest.mark.parametrize("width", [1024, 1400])
def test_the_page_renders_in_chromium_with_a_banner(tmp_path: Path, width: int) -> None:
    page = write_report(run_with("failed"), tmp_path / "report.html")
    result = dump_dom(page, window=(width, 2000))
    assert result.console == [], result.console
    assert banner(result.dom) == ("invalid", "invalid")
    png = screenshot(page, tmp_path / "report.png", window=(width, 2000))
    assert png.stat().st_size > 50_000, "a blank page compresses to almost nothing"
