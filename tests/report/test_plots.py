from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from lab import stats
from lab.report.plots import MAX_POINTS, _sample, _to_svg, histogram, lane_rows, render_plots
from lab.report.run import FaultWindow, RunData, load_run
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


def test_time_plots_number_faults_in_a_lane_with_a_key_and_mark_the_culprit(
    tmp_path: Path,
) -> None:
    run = load_run(make_run(tmp_path / "run", faults=(("kill", 2.0, 3.0), ("pause", 5.0, None))))
    plots = {p.id: p for p in render_plots(run, culprit_s=4.2)}
    assert list(plots) == IDS
    for plot_id in ("plot-throughput", "plot-latency-raw", "plot-latency-quantiles"):
        plot = plots[plot_id]
        assert [k.number for k in plot.key] == [1, 2]
        assert plot.key[0].label.startswith("kill")
        assert plot.key[1].label.startswith("pause") and "never stopped" in plot.key[1].label
        assert 'id="fault-label-1"' in plot.svg and 'id="fault-label-2"' in plot.svg
        assert not any(s.startswith(("kill", "pause")) for s in labels(plot.svg)), "no names"
    assert plots["plot-resources"].svg.count('id="fault-label-1"') == 2, "the top two panels"
    assert plots["plot-latency-percentiles"].key == ()
    assert any("cannot place" in s for s in labels(plots["plot-latency-raw"].svg))
    assert not any("cannot place" in s for s in labels(plots["plot-throughput"].svg))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 100), st.one_of(st.none(), st.floats(0, 30))),
        min_size=1,
        max_size=40,
    ),
    st.floats(2.0, 12.0),
)
def test_lane_rows_never_put_two_faults_or_their_numbers_on_top_of_each_other(
    spans: list[tuple[float, float | None]], width_in: float
) -> None:
    windows = [
        FaultWindow(f"f{i}", start, None if length is None else start + length, "")
        for i, (start, length) in enumerate(spans)
    ]
    span = 130.0
    rows = lane_rows(windows, span, width_in)
    per_inch = span / width_in
    for i, j in itertools.combinations(range(len(windows)), 2):
        if rows[i] != rows[j]:
            continue
        a, b = sorted((i, j), key=lambda k: windows[k].start)
        wa = windows[a]
        a_end = max(
            wa.end if wa.end is not None else span,
            wa.start + (len(str(a + 1)) * 0.07) * per_inch,  # the number, at least
        )
        assert a_end <= windows[b].start, (wa, windows[b])


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


def test_resource_lines_break_where_samples_stop() -> None:
    from lab.report.plots import _with_gaps

    rows = pd.DataFrame(
        {"time": [0.0, 1.0, 2.0, 9.0, 10.0], "up": [True] * 5, "rss_bytes": [1.0] * 5}
    )
    out = _with_gaps(rows)
    assert out["time"].tolist() == [0.0, 1.0, 2.0, 5.5, 9.0, 10.0]
    assert out["rss_bytes"].isna().tolist() == [False, False, False, True, False, False]
    assert len(_with_gaps(rows.iloc[:3])) == 3  # regular samples: nothing inserted
