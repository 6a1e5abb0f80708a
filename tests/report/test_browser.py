"""Every kind of report in a real browser: headless Chromium, driven through its command line.

Skipped, with the reason printed (``-ra``), when no Chromium binary is installed: CI installs
Debian's ``chromium`` package (see lab/report/browser.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.load.gates import compare
from lab.load.report import write_report as write_load_report
from lab.report import write_run_report
from lab.report.browser import _console, dump_dom, find_chromium, screenshot
from lab.soak.report import write_soak_report
from tests.load.crafted import results as crafted
from tests.load.crafted import workload
from tests.report.conftest import INVALID, VALID, copy_run
from tests.report.page import Page
from tests.report.synth import make_run
from tests.soak.test_report import faulty_soak

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary on PATH (apt-get install chromium; or set ASPEN_CHROMIUM)",
)


def test_find_chromium_honours_the_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("ASPEN_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
    monkeypatch.setenv("ASPEN_CHROMIUM", str(tmp_path / "absent"))
    assert find_chromium() is None
    monkeypatch.delenv("ASPEN_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() is None


@needs_chromium
@pytest.mark.parametrize("name", [VALID, INVALID])
def test_report_renders_without_errors_and_plots_have_size(
    rendered: dict[str, Path], name: str
) -> None:
    result = dump_dom(rendered[name], window=(1400, 3000))
    assert result.console == [], result.console
    page = Page(result.dom)
    root = next(e for e in page.elements if e.tag == "html")
    assert "data-js-errors" not in root.attrs, root.attrs["data-js-errors"]
    body = next(e for e in page.elements if e.tag == "body")
    sizes = dict(item.split("=") for item in body.attrs["data-plot-sizes"].split())
    assert len(sizes) == 5, sizes
    for plot_id, size in sizes.items():
        width, height = (int(v) for v in size.split("x"))
        assert width > 800 and height > 150, (plot_id, size)


DENSE_FAULTS = tuple(
    (name, start, start + length)
    for name, start, length in (
        ("partition-halves", 0.5, 0.4), ("kill", 0.7, 0.3), ("pause", 0.8, 2.0),
        ("partition-ring", 1.0, 0.2), ("slow-network", 1.1, 5.0), ("kill", 1.3, 0.1),
        ("clock-skew", 1.35, 0.5), ("bandwidth", 1.4, 0.2), ("partition-halves", 2.0, 1.0),
        ("kill", 2.05, 0.1), ("pause", 2.1, 0.1), ("kill", 2.2, 0.1),
    )
)  # fmt: skip
"""Twelve faults, most shorter than their own label: the case that overlapped before lanes."""


KINDS = (VALID, INVALID, "dense", "interrupted", "unsafe", "load", "soak")
"""Every kind of report: chaos (valid; invalid; dense faults; interrupted; unsafe modes), load,
soak. Chaos reports come from the recorded fixtures or `make_run`, the others from the load
and soak tests' synthetic results; none from a live run."""


def build_report(kind: str, rendered: dict[str, Path], where: Path) -> Path:
    """The page of ``kind`` (see `KINDS`), written under ``where``."""
    if kind in rendered:
        return rendered[kind]
    if kind == "unsafe":  # the stale-reads run, with fsync off as well: both flags at once
        run_dir = copy_run(INVALID, where / kind)
        for name in ("results.json", "config.json"):
            data = json.loads((run_dir / name).read_text())
            data["node_options"] = {**data["node_options"], "stale_reads": True, "fsync": "never"}
            (run_dir / name).write_text(json.dumps(data))
        return write_run_report(run_dir)
    if kind == "load":
        run = crafted({"A": workload(800.0, 12.0), "B": workload(5.0, 0.2)})
        run["gates"] = compare(run, crafted({"A": workload(1000.0, 10.0)}))
        return write_load_report(run, where / "load.html")
    if kind == "soak":
        soak = where / "soak"
        faulty_soak(soak)
        return write_soak_report(soak)
    results = {"interrupted": "SIGTERM", "checked": True} if kind == "interrupted" else None
    return write_run_report(make_run(where / kind, faults=DENSE_FAULTS, results=results))


@needs_chromium
@pytest.mark.parametrize("width", [1024, 1400])
@pytest.mark.parametrize("kind", KINDS)
def test_every_report_kind_renders_without_errors_or_overlapping_fault_labels(
    rendered: dict[str, Path], tmp_path: Path, kind: str, width: int
) -> None:
    page = build_report(kind, rendered, tmp_path)
    result = dump_dom(page, window=(width, 3000))
    assert result.console == [], result.console
    elements = Page(result.dom).elements
    root = next(e for e in elements if e.tag == "html")
    assert "data-js-errors" not in root.attrs, root.attrs["data-js-errors"]
    body = next(e for e in elements if e.tag == "body")
    labels = int(body.attrs["data-fault-labels"])
    assert labels == 0 if kind == "load" else labels > 0  # a load run injects no faults
    assert body.attrs["data-fault-label-overlaps"] == "", body.attrs["data-fault-label-overlaps"]
    if kind == "unsafe":
        assert any(e.attrs.get("id") == "unsafe" for e in elements)
    png = screenshot(page, tmp_path / f"{kind}-{width}.png", window=(width, 3000))
    data = png.read_bytes()
    assert int.from_bytes(data[16:20], "big") == width
    assert len(data) > 50_000, "a blank page compresses to almost nothing"


@needs_chromium
def test_screenshot_of_the_valid_report(rendered: dict[str, Path], tmp_path: Path) -> None:
    png = screenshot(rendered[VALID], tmp_path / "report.png", window=(1400, 3000))
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 3000)
    assert len(data) > 100_000, "a blank page compresses to almost nothing"


def test_console_messages_are_read_from_chromium_logs() -> None:
    """What ``--enable-logging=stderr`` prints for console.error and an uncaught exception
    (recent and older Chromium), among the usual noise."""
    stderr = "\n".join(
        [
            "[1:1:1125/034617.7:WARNING:ui/base/idle/idle_linux.cc:111] None of the known D-Bus",
            '[1:1:1125/034618.5:INFO:CONSOLE:1] "boom", source: file:///tmp/err.html (1)',
            '[1:1:1125/034618.6:INFO:CONSOLE(7)] "Uncaught ReferenceError: nope is not '
            'defined", source: file:///tmp/err.html (7)',
        ]
    )
    assert _console(stderr) == [
        '"boom", source: file:///tmp/err.html (1)',
        '"Uncaught ReferenceError: nope is not defined", source: file:///tmp/err.html (7)',
    ]
