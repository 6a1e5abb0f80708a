"""The run report's plots, each an inline ``<svg>`` string (no files, no fonts, no scripts).

Jepsen's graphs, redrawn: throughput per 1 s bucket by outcome (``rate``), every operation's
latency as a point on a log scale (``latency-raw``), latency quantiles per 1 s bucket, the
HdrHistogram percentile distribution (log x-axis in "nines"), and per-node resources. Every
time plot shades the nemesis windows; above it, a lane draws each fault as a numbered bar (in
rows, so neither bars nor numbers ever overlap), and the plot's ``key`` maps the numbers to the
faults (the page prints it under the plot, and numbers the faults table the same way).

Figures are `matplotlib.figure.Figure` objects rendered straight to SVG: no pyplot, so no
global figure registry to leak into, no GUI backend to select, and nothing to close. Scatter
points are rasterized inside the SVG (axes and text stay vector), so a 100k-operation run
renders in seconds and stays a few hundred kilobytes; beyond `MAX_POINTS` the scatter is a
sample, and the plot says so.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import matplotlib as mpl
import numpy as np
import pandas as pd
from hdrh.histogram import HdrHistogram
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from lab.history.op import OUTCOMES
from lab.report.run import FaultWindow, RunData
from lab.stats import MAX_LATENCY_US

MAX_POINTS: Final = 20_000
"""About the most points the latency scatter draws; larger histories are sampled."""
KEEP_RARE: Final = 1_000
"""A sampled scatter still draws every operation of an outcome this rare."""

OUTCOME_COLORS: Final = {
    "ok": "#2f6fde",
    "compare_failed": "#8a5cc7",
    "fail": "#d43a3a",
    "info": "#f2a516",
}
FAULT_COLORS: Final = ("#8c6bb1", "#e6550d", "#31a354", "#de2d26", "#3182bd", "#756bb1")
NODE_COLORS: Final = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
F_MARKERS: Final = {"read": "o", "write": "^", "cas": "s", "add": "D"}
QUANTILES: Final = (("p50", 0.5, "#7fb3f5"), ("p95", 0.95, "#2f6fde"), ("p99", 0.99, "#14388a"))
_WIDTH: Final = 10.0


@dataclass(frozen=True, slots=True)
class FaultKey:
    """What a number in a plot's fault lane stands for."""

    number: int
    label: str
    color: str


@dataclass(frozen=True, slots=True)
class Plot:
    """One rendered plot: ``id`` is stable (``plot-<name>``), for links and tests; ``key``
    explains the numbers of its fault lane (empty when it has none)."""

    id: str
    title: str
    svg: str
    caption: str = ""
    key: tuple[FaultKey, ...] = ()


def render_plots(run: RunData, *, culprit_s: float | None = None) -> list[Plot]:
    """Every plot of a run report, in page order.

    ``culprit_s``: when a checker found an operation that cannot be placed, its invoke time
    (seconds since the workload started), marked on the latency scatter.
    """
    n_ok = int((run.ops["type"] == "ok").sum()) if not run.ops.empty else 0
    raw_caption = "Each completed operation at its invoke time; colour is the outcome, shape the f."
    if len(run.ops) > MAX_POINTS:
        raw_caption += f" A sample of the {len(run.ops):,} operations is drawn."
    lane = _lane_inches(run)
    key = fault_key(run.windows)
    specs: list[tuple[str, str, Callable[[Figure], None], float, str]] = [
        (
            "throughput",
            "Throughput by outcome (1 s buckets)",
            lambda fig: _throughput(fig, run),
            3.0,
            "Operations completed per second, by outcome. Shaded: nemesis faults; dashed: the "
            "workload's end (healing, recovery and final reads follow).",
        ),
        (
            "latency-raw",
            "Latency of every operation",
            lambda fig: _latency_raw(fig, run, culprit_s),
            3.8,
            raw_caption,
        ),
        (
            "latency-quantiles",
            "Latency quantiles of ok operations (1 s buckets)",
            lambda fig: _latency_quantiles(fig, run),
            3.0,
            f"p50, p95, p99 and max of the {n_ok:,} ok operations, bucketed by invoke time.",
        ),
        (
            "latency-percentiles",
            "Latency by percentile (HdrHistogram)",
            lambda fig: _percentiles(fig, run),
            3.2,
            "Percentile distribution, 1 µs resolution, 3 significant digits (as results.json).",
        ),
        (
            "resources",
            "Node resources (1 s samples)",
            lambda fig: _resources(fig, run),
            6.0,
            "Per node, sampled every second by the runner; gaps: node down or not sampled.",
        ),
    ]
    plots = []
    for name, title, draw, height, caption in specs:
        # Fixed margins (in inches, see `_margins`): constrained layout doubles render time.
        timed = name != "latency-percentiles"
        fig = Figure(figsize=(_WIDTH, height + (lane if timed else 0.0)))
        with _style():
            draw(fig)
            svg = _to_svg(fig, name)
        plots.append(Plot(f"plot-{name}", title, svg, caption, key if timed and lane else ()))
    return plots


def _style() -> contextlib.AbstractContextManager[None]:
    """The report's matplotlib style, for the duration of one figure."""
    return mpl.rc_context(
        {
            "svg.fonttype": "none",  # text stays text: small, selectable, searchable
            "font.size": 9.0,
            "axes.titlesize": 10.0,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#e6e6e6",
            "grid.linewidth": 0.6,
            "legend.frameon": False,
            "legend.fontsize": 8.0,
        }
    )


_TOP_IN: Final = 0.12


def _margins(
    fig: Figure,
    *,
    left: float = 0.8,
    right: float = 0.15,
    bottom: float = 0.5,
    top: float = _TOP_IN,
    **space: float,
) -> None:
    """Margins in inches (so they hold for any figure height); ``space``: hspace, wspace."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        **space,
    )


def _to_svg(fig: Figure, salt: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no metadata, stable ids)."""
    buf = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", dpi=144, metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)


# -- time axes -------------------------------------------------------------------------------


def _time_axes(ax: Axes, run: RunData, *, label: bool = True, lane: bool = False) -> None:
    """Seconds on x, the fault windows shaded, the workload's end dashed; ``lane``: the
    numbered fault lane above the axes (call after `_margins`, which makes room for it)."""
    ax.set_xlim(0, math.ceil(run.span))
    if label:
        ax.set_xlabel("seconds since the workload started")
    shade(ax, run.windows, run.span)
    if lane and run.windows:
        fault_lane(ax, run.windows, math.ceil(run.span))
    end = run.workload_seconds
    if end is not None and end < run.span:
        # After this: healing, waiting for recovery, final reads.
        ax.axvline(end, color="#8c959f", lw=0.9, ls=(0, (4, 3)), zorder=1)


def _fault_color(windows: Sequence[FaultWindow], fault: str) -> str:
    names = sorted({w.fault for w in windows})
    return FAULT_COLORS[names.index(fault) % len(FAULT_COLORS)]


def shade(ax: Axes, windows: Sequence[FaultWindow], span: float) -> None:
    """Shade each fault window (labels live in the lane, never on the data)."""
    for w in windows:
        end = w.end if w.end is not None else span
        color = _fault_color(windows, w.fault)
        ax.axvspan(w.start, end, color=color, alpha=0.14, lw=0, zorder=0)
        ax.axvline(w.start, color=color, lw=0.8, alpha=0.6, zorder=0)


def fault_key(windows: Sequence[FaultWindow]) -> tuple[FaultKey, ...]:
    """Number ``i + 1`` for ``windows[i]``, as the lanes and the faults table show them."""
    out = []
    for i, w in enumerate(windows):
        label = f"{w.fault} {w.detail}" if w.detail and len(w.detail) <= 40 else w.fault
        if w.end is None:
            label += " (never stopped)"
        out.append(FaultKey(i + 1, label, _fault_color(windows, w.fault)))
    return tuple(out)


_LANE_ROW_IN: Final = 0.17
_LANE_GAP_IN: Final = 0.06
_LANE_DIGIT_IN: Final = 0.075
"""The width of one digit of a lane number at 8 pt, with room to spare (DejaVu Sans: 0.07 in)."""
_AXES_WIDTH_IN: Final = _WIDTH - 0.95  # the default left and right margins


def lane_rows(windows: Sequence[FaultWindow], span: float, axes_width_in: float) -> list[int]:
    """The lane row of each window: the first row whose previous bar, and the number written
    at its start, both end before this window starts. Bars and numbers therefore never overlap,
    however short or dense the faults."""
    seconds_per_inch = max(span, 1e-9) / axes_width_in
    ends: list[float] = []
    rows = [0] * len(windows)
    for i in sorted(range(len(windows)), key=lambda j: windows[j].start):
        w = windows[i]
        number_end = w.start + (len(str(i + 1)) * _LANE_DIGIT_IN + 0.05) * seconds_per_inch
        end = max(w.end if w.end is not None else span, number_end)
        row = next((r for r, last in enumerate(ends) if last <= w.start), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        rows[i] = row
    return rows


def _lane_inches(run: RunData) -> float:
    return lane_inches(run.windows, math.ceil(run.span))


def lane_inches(
    windows: Sequence[FaultWindow], span: float, axes_width_in: float = _AXES_WIDTH_IN
) -> float:
    """The height the fault lane adds above a time plot whose axes are ``axes_width_in``
    wide (none without faults)."""
    if not windows:
        return 0.0
    rows = lane_rows(windows, span, axes_width_in)
    return (max(rows) + 1) * _LANE_ROW_IN + _LANE_GAP_IN


def fault_lane(ax: Axes, windows: Sequence[FaultWindow], span: float) -> None:
    """Each fault as a bar in its row above ``ax``, its number at its start (SVG id
    ``fault-label-<n>``, so a browser test can measure that no two overlap). ``windows`` and
    ``span`` are in the x-axis' units (``span``: where its limit ends); call after the margins
    leave `lane_inches` for it."""
    fig = ax.get_figure()
    assert isinstance(fig, Figure)
    height_in = ax.get_position().height * fig.get_size_inches()[1]
    width_in = ax.get_position().width * fig.get_size_inches()[0]
    rows = lane_rows(windows, span, width_in)
    n_rows = max(rows) + 1
    lane = ax.inset_axes(
        (0.0, 1 + _LANE_GAP_IN / height_in, 1.0, n_rows * _LANE_ROW_IN / height_in), sharex=ax
    )
    lane.set_ylim(n_rows - 0.5, -0.5)
    lane.set_axis_off()
    for i, (w, row) in enumerate(zip(windows, rows, strict=True)):
        end = w.end if w.end is not None else span
        color = _fault_color(windows, w.fault)
        lane.broken_barh([(w.start, max(end - w.start, 0.0))], (row - 0.38, 0.76), color=color,
                         alpha=0.3, lw=0)  # fmt: skip
        text = lane.text(w.start, row, f" {i + 1}", ha="left", va="center", fontsize=8,
                         color=color, fontweight="bold", clip_on=False)  # fmt: skip
        text.set_gid(f"fault-label-{i + 1}")


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what}", transform=ax.transAxes, ha="center", va="center")
    ax.set_yticks([])


def _headroom(ax: Axes, *, log: bool = False) -> None:
    """Leave room above the data for the legend and the fault labels."""
    lo, hi = ax.get_ylim()
    if log:
        ax.set_ylim(lo, hi * 2.5)
    else:
        ax.set_ylim(lo, hi + (hi - lo) * 0.22)


# -- the plots -------------------------------------------------------------------------------


def _throughput(fig: Figure, run: RunData) -> None:
    ax = fig.add_subplot()
    _margins(fig, top=_TOP_IN + _lane_inches(run))
    _time_axes(ax, run, lane=True)
    ax.set_ylabel("operations / s")
    ops = run.ops
    if ops.empty:
        _no_data(ax, "operations")
        return
    buckets = np.floor(ops["end"].clip(lower=0)).astype("int64")
    counts = pd.crosstab(buckets, ops["type"]).reindex(
        index=range(int(buckets.max()) + 1), columns=list(OUTCOMES), fill_value=0
    )
    x = counts.index.to_numpy() + 0.5
    for outcome in OUTCOMES:
        y = counts[outcome].to_numpy()
        total = int(y.sum())
        ax.plot(
            x,
            y,
            color=OUTCOME_COLORS[outcome],
            lw=1.6,
            marker="o" if len(x) <= 90 else None,  # a dot per bucket, while they stay apart
            ms=2.5,
            label=f"{outcome} ({total:,})",
        )
    ax.set_ylim(bottom=0)
    _headroom(ax)
    ax.legend(loc="upper right", ncols=3)


def _latency_raw(fig: Figure, run: RunData, culprit_s: float | None) -> None:
    ax = fig.add_subplot()
    sampled = len(run.ops) > MAX_POINTS
    _margins(fig, bottom=0.7 if sampled else 0.5, top=_TOP_IN + _lane_inches(run))
    _time_axes(ax, run, lane=True)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log)")
    ops = run.ops
    if ops.empty:
        _no_data(ax, "operations")
        return
    shown = _sample(ops, MAX_POINTS)
    y = shown["latency_ms"].clip(lower=1e-3)
    fs = sorted(shown["f"].unique())
    for outcome in OUTCOMES:
        for f in fs:
            sel = (shown["type"] == outcome) & (shown["f"] == f)
            if not sel.any():
                continue
            ax.scatter(
                shown.loc[sel, "start"],
                y[sel],
                s=9 if outcome == "ok" else 12,
                c=OUTCOME_COLORS[outcome],
                marker=F_MARKERS.get(f, "D"),
                alpha=0.55 if outcome == "ok" else 0.85,
                linewidths=0,
                rasterized=True,
                zorder=2 if outcome == "ok" else 3,
            )
    if culprit_s is not None:
        ax.axvline(culprit_s, color="#b00020", lw=1.2, ls="--", zorder=4)
        ax.text(
            culprit_s,
            0.03,
            " the operation the checker cannot place ",
            transform=ax.get_xaxis_transform(),
            color="#b00020",
            fontsize=8,
            va="bottom",
            bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0, "pad": 1.5},
            zorder=6,
        )
    _headroom(ax, log=True)
    _log_y(ax)
    handles = [
        Line2D([], [], ls="", marker="o", ms=5, color=OUTCOME_COLORS[o], label=o)
        for o in OUTCOMES
        if (shown["type"] == o).any()
    ]
    handles += [
        Line2D([], [], ls="", marker=F_MARKERS.get(f, "D"), ms=5, color="#555", label=f) for f in fs
    ]
    ax.legend(handles=handles, loc="upper right", ncols=len(handles))
    if sampled:
        fig.text(
            0.01,
            0.02,
            f"sampled: {len(shown):,} of {len(ops):,} operations drawn, the same fraction of "
            f"each outcome (an outcome with at most {KEEP_RARE:,} operations is drawn whole)",
            fontsize=8.5,
            color="#b00020",
            va="bottom",
        )


def _sample(ops: pd.DataFrame, limit: int) -> pd.DataFrame:
    """About ``limit`` rows, deterministic: the same fraction of each outcome, so the picture
    keeps its proportions, except that an outcome with at most `KEEP_RARE` operations is kept
    whole (a handful of timeouts must not vanish from the plot)."""
    if len(ops) <= limit:
        return ops
    fraction = limit / len(ops)
    parts = [
        group if len(group) <= KEEP_RARE else group.sample(frac=fraction, random_state=0)
        for _, group in ops.groupby("type", sort=True)
    ]
    return pd.concat(parts).sort_index()


def _latency_quantiles(fig: Figure, run: RunData) -> None:
    ax = fig.add_subplot()
    _margins(fig, top=_TOP_IN + _lane_inches(run))
    _time_axes(ax, run, lane=True)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log)")
    ok = run.ops[run.ops["type"] == "ok"] if not run.ops.empty else run.ops
    if ok.empty:
        _no_data(ax, "ok operations")
        return
    bucket = np.floor(ok["start"].clip(lower=0)).astype("int64")
    grouped = ok["latency_ms"].clip(lower=1e-3).groupby(bucket)
    # Every second of the run, so a second without an ok operation is a gap, not a line.
    seconds = pd.RangeIndex(int(bucket.min()), int(bucket.max()) + 1)
    x = seconds.to_numpy() + 0.5
    for name, q, color in QUANTILES:
        y = grouped.quantile(q).reindex(seconds).to_numpy()
        ax.plot(x, y, color=color, lw=1.5, label=name, marker="o" if len(x) <= 90 else None,
                ms=2)  # fmt: skip
    ax.plot(x, grouped.max().reindex(seconds).to_numpy(), color="#d43a3a", lw=1.0, ls=":",
            label="max")  # fmt: skip
    _headroom(ax, log=True)
    _log_y(ax)
    ax.legend(loc="upper right", ncols=4)


def _percentiles(fig: Figure, run: RunData) -> None:
    ax = fig.add_subplot()
    _margins(fig, right=0.4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, log)")
    ops = run.ops
    if ops.empty:
        _no_data(ax, "operations")
        return
    # Out to the percentile of a single operation: beyond it the curve is flat at the max.
    nines = max(2, math.ceil(math.log10(max(len(ops), 1))))
    pcts = sorted({100.0 * (1 - 10.0**-k) for k in np.linspace(0, nines, 160)} | {0.0})
    top = 10.0**nines
    for label, sel, color in (
        ("ok", ops["type"] == "ok", OUTCOME_COLORS["ok"]),
        ("all", pd.Series(True, index=ops.index), "#555555"),
    ):
        if not sel.any():
            continue
        h = histogram(ops.loc[sel, "latency_ms"].to_numpy())
        values = h.get_percentile_to_value_dict(pcts)
        xs = [1.0 / (1.0 - p / 100.0) for p in pcts if p in values]
        ys = [values[p] / 1000.0 for p in pcts if p in values]
        mx = h.get_max_value() / 1000.0
        ax.plot(xs, ys, color=color, lw=1.7, label=f"{label}: {h.get_total_count():,} ops")
        ax.axhline(mx, color=color, lw=0.8, ls=":", label=f"{label}: max {mx:,.1f} ms")
    ax.set_xlim(1, top)
    ticks = [10.0**k for k in range(nines + 1)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(_nines_label))
    ax.xaxis.set_minor_formatter(NullFormatter())
    _log_y(ax)
    ax.legend(loc="lower right", ncols=2)


def histogram(latency_ms: np.ndarray) -> HdrHistogram:
    """`lab.stats.histogram` of these latencies, bucket for bucket, without a Python call per
    value: each latency is rounded down to the lowest value of its bucket (what the histogram
    keeps of it anyway), then each distinct bucket is recorded once with its count."""
    h = HdrHistogram(1, MAX_LATENCY_US, 3)
    ns = np.round(np.asarray(latency_ms, dtype="float64") * 1e6).astype("int64")
    us = np.clip(ns // 1000, 1, MAX_LATENCY_US)
    # Values below 2**11 (3 significant digits: 2048 sub-buckets) are exact; above, a bucket
    # spans 2**(bit_length - 11) values.
    shift = np.maximum(0, np.floor(np.log2(us)).astype("int64") + 1 - 11)
    values, counts = np.unique((us >> shift) << shift, return_counts=True)
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        h.record_value(value, count)
    return h


def _log_y(ax: Axes) -> None:
    """A log y-axis labelled in plain numbers (1, 2, 5, 10, ...), not powers of ten.

    Call once the limits are final: 1-2-3-4-6-8 within about a decade, 1-2-5 up to
    three decades, else powers of ten.
    """
    lo, hi = ax.get_ylim()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    if decades <= 1.3:
        subs: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
    elif decades <= 3.2:
        subs = (1.0, 2.0, 5.0)
    else:
        subs = (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _nines_label(x: float, _pos: Any) -> str:
    if x <= 1:
        return "0%"
    p = 100.0 * (1 - 1 / x)
    digits = max(0, round(math.log10(x)) - 2)
    return f"{p:.{digits}f}%"


_RESOURCE_PANELS: Final = (  # column, title, measured in bytes
    ("cpu_percent", "CPU (%)", False),
    ("rss_bytes", "RSS", True),
    ("open_fds", "open file descriptors", False),
    ("threads", "threads", False),
    ("data_bytes", "data directory size", True),
)


def _resources(fig: Figure, run: RunData) -> None:
    axes = fig.subplots(3, 2, sharex=True).ravel()
    lane = _lane_inches(run)
    _margins(fig, left=0.5, top=0.55 + lane, hspace=0.45, wspace=0.1)
    res = run.resources
    nodes = sorted(res["node"].dropna().unique(), key=_node_order) if not res.empty else []
    for i, (ax, (col, title, in_bytes)) in enumerate(zip(axes, _RESOURCE_PANELS, strict=False)):
        _time_axes(ax, run, label=False, lane=i < 2)
        if res.empty:
            _no_data(ax, "samples")
            ax.set_title(title, loc="left")
            continue
        unit, factor = _byte_unit(_peak(res[col])) if in_bytes else ("", 1.0)
        ax.set_title(f"{title} ({unit})" if unit else title, loc="left")
        for i, node in enumerate(nodes):
            rows = _with_gaps(res[res["node"] == node].sort_values("time"))
            y = rows[col].where(rows["up"].astype(bool)) / factor
            # Thinner on top, so a node whose line equals another's still shows.
            lw = max(1.0, 2.6 - 0.6 * i)
            ax.plot(rows["time"], y, color=NODE_COLORS[i % len(NODE_COLORS)], lw=lw, label=node)
        ax.set_ylim(bottom=0)
        _headroom(ax)
    _availability(axes[5], run, nodes)
    for ax in axes[4:]:
        ax.set_xlabel("seconds since the workload started")
    if nodes:
        handles = [
            Line2D([], [], color=NODE_COLORS[i % len(NODE_COLORS)], lw=2.5, label=node)
            for i, node in enumerate(nodes)
        ]
        fig.legend(handles=handles, loc="upper right", ncols=len(nodes), fontsize=9)


def _with_gaps(rows: pd.DataFrame, *, factor: float = 2.5) -> pd.DataFrame:
    """``rows`` (one node's samples, by time) with an empty row wherever samples stop for more
    than ``factor`` sampling intervals (the node was down, or not sampled): a line drawn
    through that time would show values nobody measured."""
    if len(rows) < 3:
        return rows
    times = rows["time"].to_numpy(dtype="float64")
    steps = np.diff(times)
    holes = np.flatnonzero(steps > factor * float(np.median(steps)))
    if holes.size == 0:
        return rows
    blanks = pd.DataFrame({"time": (times[holes] + times[holes + 1]) / 2, "up": False})
    return pd.concat([rows, blanks], ignore_index=True).sort_values("time", kind="stable")


def _availability(ax: Axes, run: RunData, nodes: Sequence[str]) -> None:
    """One lane per node: green while samples said up, red while down."""
    ax.set_title("node up / down", loc="left")
    _time_axes(ax, run, label=False)
    ax.grid(False, axis="y")
    res = run.resources
    for lane, node in enumerate(nodes):
        rows = res[res["node"] == node].sort_values("time")
        for up, start, end in _runs(rows["time"].tolist(), rows["up"].tolist()):
            color = "#5bb974" if up else "#d43a3a"
            ax.broken_barh(
                [(start, end - start)], (lane - 0.3, 0.6), color=color, alpha=0.85, lw=0, zorder=2
            )
    ax.set_yticks(range(len(nodes)), list(nodes))
    ax.set_ylim(-0.6, max(len(nodes), 1) - 0.4 + (0.6 if run.windows else 0))


def _runs(times: list[float], ups: list[bool]) -> list[tuple[bool, float, float]]:
    """Consecutive samples with the same state, each lasting until the next sample (or 1 s)."""
    out: list[tuple[bool, float, float]] = []
    for i, (t, up) in enumerate(zip(times, ups, strict=True)):
        end = times[i + 1] if i + 1 < len(times) else t + 1.0
        if out and out[-1][0] == up:
            out[-1] = (up, out[-1][1], end)
        else:
            out.append((up, t, end))
    return out


def _node_order(node: str) -> tuple[int, str]:
    digits = "".join(ch for ch in node if ch.isdigit())
    return (int(digits) if digits else 0, node)


def _peak(values: pd.Series) -> float:
    peak = values.max(skipna=True)
    return 0.0 if pd.isna(peak) else float(peak)


def _byte_unit(peak: float) -> tuple[str, float]:
    for unit, factor in (("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10)):
        if peak >= factor:
            return unit, factor
    return "bytes", 1.0
