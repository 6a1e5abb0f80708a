"""Run reports a release manager can sign off: one self-contained HTML page per run, and an index.

- `write_run_report(run_dir) -> Path` (`lab.report.html`): ``run_dir/report.html`` from the
  files a run leaves in the store (see `lab.store`).
- `write_index(store_root, out=Path("reports/index.html")) -> Path` (`lab.report.index`): every
  run in a store, newest first, linked to its report.
- ``aspen-lab report DIR [--index STORE]`` (`lab.report.cli`) rebuilds them from stored files.

Modules: `run` (loading a run directory), `plots` (matplotlib to inline SVG), `counterexample`,
`logs` (error excerpts), `templating` (Jinja environment and number formats; templates in
``lab/report/templates/``, package data), `browser` (headless Chromium, for checks and screenshots).

The names above are imported lazily: `lab.report.browser` must not pay for pandas and
matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.report.html import write_run_report
    from lab.report.index import write_index

__all__ = ["write_index", "write_run_report"]


def __getattr__(name: str) -> Any:
    if name == "write_run_report":
        from lab.report.html import write_run_report

        return write_run_report
    if name == "write_index":
        from lab.report.index import write_index

        return write_index
    raise AttributeError(f"module 'lab.report' has no attribute {name!r}")
