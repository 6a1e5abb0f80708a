"""The report in a real browser: headless Chromium, driven through its command line.

Skipped, with the reason printed (``-ra``), when no Chromium binary is installed: CI installs
Debian's ``chromium`` package (see lab/report/browser.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.report.browser import _console, dump_dom, find_chromium, screenshot
from tests.report.conftest import INVALID, VALID
from tests.report.page import Page

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
