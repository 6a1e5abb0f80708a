"""The soak report, drawn from synthetic soak directories: plots present, numbers match."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from lab.soak.report import fmt_value, soak_status, write_soak_report
from tests.soak.synth import MB, resource_rows, window, write_soak_dir

PLOTS = ("plot-rss", "plot-fds", "plot-threads", "plot-data", "plot-cpu", "plot-windows")


class Page(HTMLParser):
    """Rows with data-* attributes, figure ids, and every src/href."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[dict[str, str | None]] = []
        self.cells: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
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
    for m in re.finditer(r'<figure id="(plot-[a-z]+)">\s*(<svg.*?</svg>)', html, re.S):
        out[m.group(1)] = m.group(2)
    return out


def check_self_contained(html: str, page: Page) -> None:
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not [u for u in page.links if u.startswith(("http:", "https:", "//"))]


def test_report_of_a_valid_soak(tmp_path: Path) -> None:
    soak = tmp_path / "soak" / "20260101T000000"
    windows = [window(i, p99_ms=20 + i) for i in range(10)]
    rss = lambda n, t: 50 * MB + t * 1000  # noqa: E731  (3.6 MB/hour: well under the limit)
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
    assert rss_n1["value"] == pytest.approx(3.6, rel=0.01)
    assert fmt_value(rss_n1["value"], "MB/hour") in html
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
        return 50 * MB + (t * 2000 * MB / 3600 if node == "n2" else 0)

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
    assert fmt_value(35.79, "MB/hour") == "35.8 MB/hour"
    assert fmt_value(0, "fds") == "0 fds"
    assert fmt_value(212992, "bytes") == "208.0 KiB"
    assert fmt_value(1234.5, "x live data") == "1,234 x live data"
