"""The soak report, drawn from synthetic soak directories: plots present, numbers match."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from lab.report.browser import dump_dom, find_chromium
from lab.soak.cli import summary
from lab.soak.plots import soak_faults
from lab.soak.report import fmt_value, soak_status, write_soak_report
from tests.report.page import Page as Dom
from tests.soak.synth import MIB, resource_rows, window, write_soak_dir

PLOTS = ("plot-rss", "plot-fds", "plot-threads", "plot-data", "plot-cpu", "plot-windows")
TIME_PLOTS = PLOTS[:-1]
DECIMAL_MB = re.compile(r"(?<![A-Za-z])MB(?![A-Za-z])")
""""MB" on its own (a decimal unit); inside a word it is not a unit."""
CHROMIUM = find_chromium()


class Page(HTMLParser):
    """Rows with data-* attributes, figure ids, and every src/href."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[dict[str, str | None]] = []
        self.cells: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.script_srcs: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "script" and a.get("src"):
            self.script_srcs.append(str(a["src"]))
        if tag == "tr" and any(k.startswith("data-") for k in a):
            self.rows.append(a)
        if tag == "td" and any(k.startswith("data-") for k in a):
            self.cells.append(a)
        for k in ("src", "href"):
            if a.get(k):
                self.links.append(str(a[k]))


def figures(html: str) -> dict[str, str]:
    """Plot id -> the figure's inline SVG."""
    out = {}
    for m in re.finditer(r'<figure class="plot" id="(plot-[a-z]+)">\s*(<svg.*?</svg>)', html, re.S):
        out[m.group(1)] = m.group(2)
    return out


def check_self_contained(html: str, page: Page) -> None:
    # One inline script (it measures the fault lane); nothing loaded from anywhere.
    assert not page.script_srcs and "link" not in page.tags and "img" not in page.tags
    assert not [u for u in page.links if u.startswith(("http:", "https:", "//"))]


def test_report_of_a_valid_soak(tmp_path: Path) -> None:
    soak = tmp_path / "soak" / "20260101T000000"
    windows = [window(i, p99_ms=20 + i) for i in range(10)]
    rss = lambda n, t: 50 * MIB + t * 1000  # noqa: E731  (3.4 MiB/hour: well under the limit)
    results = write_soak_dir(soak, windows, resource_rows(600, rss=rss))
    out = write_soak_report(soak)
    assert out == soak / "report.html"
    html = out.read_text()
    page = Page(html)
    check_self_contained(html, page)
    assert 'id="soak-status">VALID<' in html
    figs = figures(html)
    assert set(figs) == set(PLOTS)
    assert all(len(svg) > 2000 for svg in figs.values())
    assert "stroke-dasharray" in figs["plot-rss"]  # the fitted RSS lines are drawn
    # Every leak check is in the table with the number results.json has.
    rows = [r for r in page.rows if "data-check" in r]
    assert [(r["data-check"], r["data-node"] or None) for r in rows] == [
        (c["name"], c["node"]) for c in results["leaks"]["checks"]
    ]
    values = [float(c["data-value"] or "nan") for c in page.cells if "data-value" in c]
    assert values == [c["value"] for c in results["leaks"]["checks"]]
    rss_n1 = next(c for c in results["leaks"]["checks"] if c["name"] == "rss_slope")
    assert rss_n1["value"] == pytest.approx(1000 * 3600 / MIB, rel=0.01)
    assert fmt_value(rss_n1["value"], "MiB/hour") in html
    # The windows table: one row per window, p99 as in results.json.
    wrows = [r for r in page.rows if "data-status" in r]
    assert len(wrows) == 10 and all(r["data-status"] == "valid" for r in wrows)
    p99s = [float(c["data-p99"] or "nan") for c in page.cells if "data-p99" in c]
    assert p99s == [w["p99_ms"] for w in results["windows"]] == [20.0 + i for i in range(10)]
    assert "windows/0003/" in page.links
    assert results["rerun"] in html
    for name in ("config.json", "results.json", "resources.jsonl", "windows/"):
        assert name in page.links


def test_report_of_a_failing_soak_points_at_what_failed(tmp_path: Path) -> None:
    soak = tmp_path / "soak" / "x"
    bad = window(3, verdicts={"linearizable": "invalid", "recovery": "valid"})
    bad.report = "windows/0003/report.html"
    windows = [window(i) for i in range(6) if i != 3] + [bad]

    def rss(node: str, t: float) -> float:
        return 50 * MIB + (t * 2000 * MIB / 3600 if node == "n2" else 0)

    results = write_soak_dir(soak, windows, resource_rows(360, rss=rss))
    (soak / "windows" / "0003" / "report.html").write_text("<html></html>")
    html = write_soak_report(soak).read_text()
    page = Page(html)
    assert soak_status(results) == "invalid"
    assert 'id="soak-status">INVALID<' in html
    assert 'data-verdict="windows">windows: invalid<' in html
    assert 'data-verdict="leaks">leaks: invalid<' in html
    assert '<a href="#window-3">3</a>' in html
    assert '<a href="#plot-rss">rss_slope n2</a>' in html
    assert "windows/0003/report.html" in page.links
    failed = [r for r in page.rows if r.get("class") == "bad"]
    assert {r.get("data-check") or r.get("data-status") for r in failed} == {
        "rss_slope",
        "invalid",
    }


def test_report_of_a_soak_that_checked_nothing(tmp_path: Path) -> None:
    soak = tmp_path / "soak" / "empty"
    results = write_soak_dir(soak, [], [], planned=2, interrupted=True)
    assert results["verdicts"] == {"windows": "unknown", "leaks": "unknown"}
    assert not results["valid"]
    html = write_soak_report(soak).read_text()
    assert "no window was checked" in html
    assert set(figures(html)) == set(PLOTS)
    assert "no samples" in html and "no windows checked" in html


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"running": True}, "running"),
        ({"interrupted": True}, "interrupted"),
        ({"interrupted": True, "verdicts": {"windows": "invalid", "leaks": "valid"}}, "invalid"),
        ({"errors": ["soak failed: boom"]}, "invalid"),
        ({"verdicts": {"windows": "unknown", "leaks": "valid"}}, "unknown"),
        ({}, "valid"),
    ],
)
def test_status(changes: dict[str, Any], status: str) -> None:
    base: dict[str, Any] = {
        "valid": True,
        "verdicts": {"windows": "valid", "leaks": "valid"},
        "errors": [],
        "interrupted": False,
        "running": False,
    }
    assert soak_status({**base, **changes}) == status


def test_values_with_units() -> None:
    assert fmt_value(35.79, "MiB/hour") == "35.8 MiB/hour"
    assert fmt_value(0, "fds") == "0 fds"
    assert fmt_value(212992, "bytes") == "208.0 KiB"
    assert fmt_value(1234.5, "x live data") == "1,234 x live data"


def dense_faults(index: int) -> list[dict[str, Any]]:
    """Three faults in one 60 s window, two of them shorter than their own number."""
    return [
        {"fault": "partition-halves", "start": 5.0, "end": 25.0},
        {"fault": "kill", "start": 30.0, "end": 30.5},
        {"fault": "pause", "start": 31.0, "end": 31.2 if index % 2 else None},
    ]


def faulty_soak(soak: Path) -> dict[str, Any]:
    windows = [window(i, faults=dense_faults(i)) for i in range(10)]
    return write_soak_dir(soak, windows, resource_rows(600))


def test_faults_are_shaded_and_numbered_on_every_time_plot(tmp_path: Path) -> None:
    soak = tmp_path / "soak" / "faulty"
    results = faulty_soak(soak)
    faults = soak_faults(results["windows"])
    assert len(faults) == 30
    # In soak time: window 4 starts at 240 s, its kill at 30 s into it.
    assert (faults[13].fault, faults[13].start, faults[13].end) == ("kill", 270.0, 270.5)
    assert (faults[14].end, faults[14].detail) == (300.0, "(window 4, healed at its end)")
    html = write_soak_report(soak).read_text()
    figs = figures(html)
    for plot in TIME_PLOTS:
        labels = re.findall(r'id="fault-label-(\d+)"', figs[plot])
        assert sorted(map(int, labels)) == list(range(1, 31)), plot
    assert "fault-label-" not in figs["plot-windows"]  # per window, not over time
    keys = re.findall(r'<div class="fault-key">(.*?)</div>', html, re.S)
    assert len(keys) == len(TIME_PLOTS)
    assert "<b" in keys[0] and ">14</b> kill (window 4)" in keys[0]
    assert "pause (window 4, healed at its end)" in keys[0]


def test_a_soak_with_too_many_faults_to_number_is_shaded_only(tmp_path: Path) -> None:
    soak = tmp_path / "soak" / "long"
    windows = [window(i, length_s=60.0, faults=dense_faults(i) * 2, ok=100) for i in range(240)]
    write_soak_dir(soak, windows, resource_rows(240 * 60, step=60))
    html = write_soak_report(soak).read_text()
    assert 'id="fault-label-' not in html and 'class="fault-key"' not in html
    assert "Shaded: the 1440 faults (too many to number)." in html


def test_the_page_and_the_terminal_speak_binary_units(tmp_path: Path) -> None:
    soak = tmp_path / "soak" / "units"

    def data(_node: str, t: float) -> float:  # no compaction: a growing data directory
        return 2 * MIB + t * 100 * MIB / 3600

    results = write_soak_dir(soak, [window(i) for i in range(10)], resource_rows(600, data=data))
    units = {c["name"]: c["unit"] for c in results["leaks"]["checks"]}
    assert units["rss_slope"] == units["data_dir_growth"] == "MiB/hour"
    growth = next(c for c in results["leaks"]["checks"] if c["name"] == "data_dir_growth")
    assert growth["value"] == pytest.approx(100, rel=0.01)
    assert "MiB over" in growth["detail"]
    html = write_soak_report(soak).read_text()
    assert "MiB/hour" in html and "MiB</text>" in figures(html)["plot-rss"]
    assert not DECIMAL_MB.findall(html)
    lines = "\n".join(summary(soak, results))
    assert "MiB/hour" in lines and not DECIMAL_MB.findall(lines)
    # A results.json from before (checks in MB/hour, the fit's slope in MB/hour): converted.
    old = json.loads((soak / "results.json").read_text())
    for c in old["leaks"]["checks"]:
        if c["unit"] == "MiB/hour":
            c["value"], c["threshold"] = c["value"] * MIB / 1e6, c["threshold"] * MIB / 1e6
            c["unit"] = "MB/hour"
    for fit in old["leaks"]["fits"]["rss"].values():
        if "slope_mib_per_hour" in fit:
            fit["slope_mb_per_hour"] = fit.pop("slope_mib_per_hour") * MIB / 1e6
    (soak / "results.json").write_text(json.dumps(old))
    again = write_soak_report(soak).read_text()
    assert fmt_value(growth["value"], "MiB/hour") in again
    assert not DECIMAL_MB.findall(again)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
@pytest.mark.parametrize("width", [1024, 1400])
def test_soak_report_in_a_browser_has_no_errors_nor_overlapping_fault_labels(
    tmp_path: Path, width: int
) -> None:
    soak = tmp_path / "soak" / "faulty"
    faulty_soak(soak)
    result = dump_dom(write_soak_report(soak), window=(width, 3000))
    assert result.console == [], result.console
    body = next(e for e in Dom(result.dom).elements if e.tag == "body")
    assert int(body.attrs["data-fault-labels"]) == 30 * len(TIME_PLOTS)
    assert body.attrs["data-fault-label-overlaps"] == "", body.attrs["data-fault-label-overlaps"]
