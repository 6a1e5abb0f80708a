"""Headless Chromium, to check that a report renders (and to take its picture).

Only the ``chromium`` command line is used (no driver, no Python package): ``--dump-dom``
returns the DOM after the page's scripts ran, with console messages on stderr when logging is
on; ``--screenshot`` writes a PNG. On Debian the browser is the ``chromium`` package; set
``ASPEN_CHROMIUM`` to use another binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

NAMES: Final = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_CONSOLE: Final = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)$")
_FLAGS: Final = (
    "--headless",
    "--no-sandbox",  # we may be root (CI containers), where the sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) binary: ``$ASPEN_CHROMIUM``, else the first on PATH."""
    override = os.environ.get("ASPEN_CHROMIUM")
    if override:
        return shutil.which(override)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True, slots=True)
class Rendered:
    """What the browser made of a page: the DOM after scripts ran, and console messages."""

    dom: str
    console: list[str]
    stderr: str


def dump_dom(
    page: Path,
    *,
    window: tuple[int, int] = (1400, 3000),
    timeout: float = 90.0,
    binary: str | None = None,
) -> Rendered:
    """Load ``page`` from file:// and return its DOM; raises RuntimeError if Chromium fails."""
    out = _run(page, ["--dump-dom"], window, timeout, binary)
    return Rendered(out.stdout, _console(out.stderr), out.stderr)


def screenshot(
    page: Path,
    png: Path,
    *,
    window: tuple[int, int] = (1400, 3000),
    timeout: float = 90.0,
    binary: str | None = None,
) -> Path:
    """Write a PNG of the top ``window`` of ``page``; return ``png``."""
    png = Path(png).resolve()
    _run(page, [f"--screenshot={png}"], window, timeout, binary)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {png}")
    return png


def _run(
    page: Path, extra: list[str], window: tuple[int, int], timeout: float, binary: str | None
) -> subprocess.CompletedProcess[str]:
    exe = binary or find_chromium()
    if exe is None:
        raise RuntimeError("no chromium binary (install the chromium package)")
    url = Path(page).resolve().as_uri()
    # A private profile per call: two browsers on one profile would hand pages to each other.
    with tempfile.TemporaryDirectory(prefix="aspen-chromium-") as profile:
        argv = [
            exe,
            *_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            *extra,
            url,
        ]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"chromium exited {out.returncode}: {out.stderr[-2000:]}")
    return out


def _console(stderr: str) -> list[str]:
    """The page's console messages, from Chromium's stderr log."""
    return [m.group(1) for line in stderr.splitlines() if (m := _CONSOLE.search(line))]
