"""The Jinja environment for reports, and the number formats every report page shares.

Templates live in ``lab/report/templates/``, package data loaded through ``importlib``, so a
wheel install renders reports as a source checkout does. The formatters are
plain functions (also Jinja filters) so tests can check a page shows exactly what
``results.json`` says, formatted the same way.
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jinja2

VERDICTS: Final = ("valid", "invalid", "unknown")
STATUSES: Final = (*VERDICTS, "interrupted")
"""A run's overall status: a verdict, or ``interrupted`` (stopped early by a signal)."""
MISSING: Final = "\N{EN DASH}"
"""What a page shows for a number results.json does not have."""


def environment(templates: Path | None = None) -> jinja2.Environment:
    """Autoescaping, strict about undefined names (a typo in a template is an error).

    ``templates`` replaces the packaged templates with a folder (tests use it).
    """
    loader: jinja2.BaseLoader
    if templates is None:
        loader = jinja2.PackageLoader("lab.report", "templates")
    elif templates.is_dir():
        loader = jinja2.FileSystemLoader(templates)
    else:
        raise FileNotFoundError(f"report templates not found at {templates}")
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=fmt_count, rate=fmt_rate, ms=fmt_ms, seconds=fmt_seconds)
    env.filters.update(size=fmt_bytes)
    return env


def asset(name: str) -> str:
    """The text of a packaged file beside the templates (a stylesheet, a page script)."""
    return resources.files("lab.report").joinpath("templates", name).read_text(encoding="utf-8")


def page_scripts() -> dict[str, str]:
    """What every report page runs for headless checks, for the pages this environment does
    not draw (load, soak): ``js_errors`` first in ``<head>`` (it records script errors), and
    ``js_layout`` at the end of ``<body>`` (it measures the fault labels once laid out)."""
    return {"js_errors": asset("_js_errors.js"), "js_layout": asset("_fault_labels.js")}


def fmt_count(n: Any) -> str:
    """``12,345``; `MISSING` when absent."""
    return MISSING if n is None else f"{int(n):,}"


def fmt_rate(x: Any) -> str:
    """Operations per second, one decimal: ``48.7``."""
    return MISSING if x is None else f"{float(x):,.1f}"


def fmt_ms(x: Any) -> str:
    """A latency given in milliseconds: ``0.85 ms``, ``36.1 ms``, ``2.00 s``."""
    if x is None:
        return MISSING
    x = float(x)
    if x < 10:
        return f"{x:.2f} ms"
    if x < 1000:
        return f"{x:.1f} ms"
    return f"{x / 1000:.2f} s"


def fmt_seconds(x: Any) -> str:
    """A duration given in seconds: ``7.9 ms``, ``1.25 s``, ``3 min 20 s``."""
    if x is None:
        return MISSING
    x = float(x)
    if x < 1:
        return fmt_ms(x * 1000)
    if x < 120:
        return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"
    minutes, secs = divmod(round(x), 60)
    return f"{minutes} min {secs} s"


def fmt_bytes(n: Any) -> str:
    """``576 B``, ``1.3 KiB``, ``43.0 MiB``."""
    if n is None:
        return MISSING
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if x < 1024 or unit == "GiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    raise AssertionError("unreachable")


def overall_status(results: dict[str, Any]) -> str:
    """``invalid`` if any checker says so (a violation in what ran is real, even in a run cut
    short), else ``interrupted`` if a signal stopped the run, else ``unknown`` if any checker
    could not decide, else ``valid`` (or ``invalid`` when the run says it is not valid)."""
    verdicts = set((results.get("verdicts") or {}).values())
    if "invalid" in verdicts:
        return "invalid"
    if results.get("interrupted"):
        return "interrupted"
    if "unknown" in verdicts or not verdicts:
        return "unknown"
    return "valid" if results.get("valid", True) else "invalid"


def unsafe_modes(results: dict[str, Any]) -> list[str]:
    """The unsafe node options a run used, as the flags that set them (``--stale-reads``,
    ``--fsync never``): such a run exists to prove the lab catches what they break, so its
    invalid verdict is expected, and every page and line says so."""
    options = results.get("node_options") or {}
    modes = []
    if options.get("stale_reads"):
        modes.append("--stale-reads")
    if options.get("fsync") not in (None, "always"):
        modes.append(f"--fsync {options['fsync']}")
    return modes


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so a reader (a browser refreshing) never sees half a page."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
