"""Run directories for report tests: copies of the recorded fixtures, never the originals.

The two fixtures are real runs (``tests/data/runs``): a valid partition run and a run with
stale reads enabled that the linearizability checker caught. Reports are written into copies
under ``tmp_path``; ``rendered`` renders each once per worker for the read-only tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lab.report import html
from lab.report.html import write_run_report
from lab.report.plots import Plot
from lab.report.run import RunData

RUNS = Path(__file__).resolve().parents[1] / "data" / "runs"
VALID = "partition-valid"
INVALID = "stale-reads-invalid"
PLOT_IDS = (
    "plot-throughput",
    "plot-latency-raw",
    "plot-latency-quantiles",
    "plot-latency-percentiles",
    "plot-resources",
)
STAMPS = {VALID: "20261125T032828", INVALID: "20261125T032844"}
"""Where each fixture sits in a store (``<scenario>/<timestamp>``, from its run id)."""


def copy_run(name: str, dest: Path) -> Path:
    shutil.copytree(RUNS / name, dest)
    return dest


def results_of(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data


@pytest.fixture
def valid_run(tmp_path: Path) -> Path:
    return copy_run(VALID, tmp_path / VALID)


@pytest.fixture
def invalid_run(tmp_path: Path) -> Path:
    return copy_run(INVALID, tmp_path / INVALID)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Both fixtures in a store layout, with a ``latest`` link as the lab leaves it."""
    root = tmp_path / "store"
    for name, stamp in STAMPS.items():
        copy_run(name, root / "partition" / stamp)
    (root / "partition" / "latest").symlink_to(STAMPS[INVALID])
    return root


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both fixtures' reports, written once per worker (tests must not modify them)."""
    base = tmp_path_factory.mktemp("rendered")
    return {name: write_run_report(copy_run(name, base / name)) for name in (VALID, INVALID)}


@pytest.fixture
def stub_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny stand-in plots, for tests about the page around them (matplotlib is most of the
    time a report takes; the real plots are tested in test_plots and on ``rendered``)."""

    def render(run: RunData, *, culprit_s: float | None = None) -> list[Plot]:
        return [Plot(i, i, f'<svg viewBox="0 0 4 4" data-stub="{i}"></svg>') for i in PLOT_IDS]

    monkeypatch.setattr(html, "render_plots", render)
