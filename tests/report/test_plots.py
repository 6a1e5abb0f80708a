from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab import stats
from lab.report.plots import MAX_POINTS, _sample, _to_svg, histogram, render_plots
from lab.report.run import RunData, load_run
from tests.report.page import Page, text
from tests.report.synth import make_run

IDS = [
    "plot-throughput",
    "plot-latency-raw",
    "plot-latency-quantiles",
    "plot-latency-percentiles",
    "plot-resources",
]


def labels(svg: str) -> list[str]:
    return [text(t) for t in Page(svg).elements if t.tag == "text"]


def test_svg_is_inline_ready_and_byte_stable() -> None:
    """No XML prolog or metadata (the SVG sits inside HTML), and no random ids or dates."""

    def draw() -> str:
        fig = Figure(figsize=(2, 1))
        fig.add_subplot().plot([0, 1], [1, 0])
        return _to_svg(fig, "plot-test")

    svg = draw()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<metadata>" not in svg and "<?xml" not in svg and "<!DOCTYPE" not in svg
    assert draw() == svg


def test_time_plots_label_faults_and_mark_the_culprit(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "run", faults=(("kill", 2.0, 3.0), ("pause", 5.0, None))))
    plots = {p.id: p for p in render_plots(run, culprit_s=4.2)}
    assert list(plots) == IDS
    for plot_id in ("plot-throughput", "plot-latency-raw", "plot-latency-quantiles"):
        found = labels(plots[plot_id].svg)
        assert any(s.startswith("kill") for s in found), found
        assert any(s.startswith("pause") and "never stopped" in s for s in found), found
    resource_labels = labels(plots["plot-resources"].svg)
    assert sum(s.startswith("kill") for s in resource_labels) == 6, "every resource panel"
    assert any("cannot place" in s for s in labels(plots["plot-latency-raw"].svg))
    assert not any("cannot place" in s for s in labels(plots["plot-throughput"].svg))


def test_an_empty_run_renders_placeholders(tmp_path: Path) -> None:
    run = RunData(
        run_dir=tmp_path,
        config={},
        results={},
        ops=pd.DataFrame(columns=["process", "f", "type", "node", "start", "end", "latency_ms"]),
        windows=[],
        resources=pd.DataFrame(columns=["time", "node", "up"]),
        origin_ns=0,
    )
    plots = render_plots(run)
    assert [p.id for p in plots] == IDS
    assert any("no operations" in s for s in labels(plots[0].svg))
    assert any("no samples" in s for s in labels(plots[-1].svg))


def test_a_100k_operation_history_renders_in_seconds(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "big", ops=100_000, duration=120.0)
    started = time.perf_counter()
    run = load_run(run_dir)
    plots = {p.id: p for p in render_plots(run)}
    elapsed = time.perf_counter() - started
    print(f"100k operations: loaded and plotted in {elapsed:.1f} s")
    assert len(run.ops) == 100_000
    assert elapsed < 30, "generous for a loaded CI machine; about 3 s on an idle laptop core"
    raw = plots["plot-latency-raw"]
    (note,) = [s for s in labels(raw.svg) if s.startswith("sampled: ")]
    drawn = int(note.split()[1].replace(",", ""))
    assert abs(drawn - MAX_POINTS) < 10 and "of 100,000 operations drawn" in note
    assert "A sample of the 100,000 operations is drawn." in raw.caption
    assert len(raw.svg) < 1_500_000, "the scatter is rasterized, not 100k SVG elements"


def test_fast_histogram_is_bucket_for_bucket_lab_stats() -> None:
    """The percentile plot and results.json must agree: same buckets, same counts."""
    rng = np.random.default_rng(0)
    latency_ms = np.concatenate([rng.lognormal(2, 1.5, 20_000), [0.0001, 0.5, 2000.0, 4e6]])
    fast = histogram(latency_ms)
    slow = stats.histogram(np.round(latency_ms * 1e6).astype("int64").tolist())
    assert list(fast.counts) == list(slow.counts)
    assert stats.latency_summary(fast) == stats.latency_summary(slow)
    assert fast.get_min_value() == slow.get_min_value()


def test_sampling_keeps_proportions_and_rare_outcomes() -> None:
    ops = pd.DataFrame({"type": ["ok"] * 90_000 + ["fail"] * 9_500 + ["info"] * 500})
    shown = _sample(ops, 10_000)
    counts = shown["type"].value_counts().to_dict()
    assert counts == {"ok": 9_000, "fail": 950, "info": 500}
    assert shown.index.is_monotonic_increasing
    assert _sample(ops, 10_000).equals(shown), "deterministic"
