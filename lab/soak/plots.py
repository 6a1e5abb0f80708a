"""The soak report's plots, each an inline ``<svg>`` string: resources over the whole soak
(with the RSS fits the leak check judged), and the windows' latency and throughput. Every
time plot shades the windows' faults and, above it, numbers them in a lane as the chaos report
does (`lab.report.plots`); a soak with too many faults to number legibly is shaded only.
Sizes are binary (MiB), as everywhere on the soak's page and in its leak checks.

Figures are `matplotlib.figure.Figure` objects saved straight to SVG (no pyplot: no global
state, no GUI backend). Long series are bucketed to about `MAX_POINTS` points per node (the
bucket's maximum, so a spike stays visible).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lab.report.plots import FaultKey, fault_key, fault_lane, lane_inches, shade
from lab.report.run import FaultWindow
from lab.soak.resources import ResourceSeries, downsample

MAX_POINTS: Final = 2000
NODE_COLORS: Final = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
STATUS_COLORS: Final = {"valid": "#2e7d32", "invalid": "#c62828", "unknown": "#ef8f00"}
MIB: Final = float(1 << 20)
MAX_LANE_IN: Final = 1.2
"""A fault lane taller than this (many short faults over a long soak) is left out: the plots
are shaded only, and the windows table names each window's faults."""
_HEIGHT_IN: Final = 3.0
_TOP_IN: Final = 0.3
_AXES_WIDTH_IN: Final = 10 * (0.98 - 0.08)


@dataclass(frozen=True, slots=True)
class Plot:
    id: str
    """``plot-<name>``: stable, for links and tests."""
    title: str
    svg: str
    caption: str = ""
    key: tuple[FaultKey, ...] = ()
    """What the numbers of its fault lane stand for (empty when it has none)."""


def _style() -> Any:
    return mpl.rc_context(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "aspen-soak",
            "font.size": 9.0,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#e6e6e6",
            "grid.linewidth": 0.6,
            "legend.frameon": False,
            "legend.fontsize": 8.0,
        }
    )


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)


def _time_unit(span_s: float) -> tuple[float, str]:
    if span_s >= 3 * 3600:
        return 3600.0, "hours"
    if span_s >= 180:
        return 60.0, "minutes"
    return 1.0, "seconds"


def _node_order(node: str) -> tuple[int, str]:
    digits = node.lstrip("n")
    return (int(digits), node) if digits.isdigit() else (1 << 30, node)


def soak_faults(windows: Sequence[dict[str, Any]]) -> list[FaultWindow]:
    """Every window's faults in soak time (a fault's ``start``/``end`` count from its
    window's start), in order, ``detail`` naming the window. A fault its window never stopped
    ends with the window (whose run heals the cluster), and says so."""
    out = []
    for w in sorted(windows, key=lambda w: float(w["start_s"])):
        base = float(w["start_s"])
        for f in w.get("faults") or []:
            end = f.get("end")
            detail = f"(window {w['index']})"
            if end is None:
                end = float(w["length_s"])
                detail = f"(window {w['index']}, healed at its end)"
            out.append(
                FaultWindow(str(f["fault"]), base + float(f["start"]), base + float(end), detail)
            )
    return out


def render_plots(
    series: ResourceSeries, results: dict[str, Any], *, max_points: int = MAX_POINTS
) -> list[Plot]:
    """Every plot of the soak report, in page order."""
    windows = results.get("windows") or []
    leaks = results.get("leaks") or {}
    warmup = float(leaks.get("warmup_s") or 0.0)
    fits = (leaks.get("fits") or {}).get("rss") or {}
    span = max(series.span, max((w["start_s"] + w["length_s"] for w in windows), default=0.0))
    scale, unit = _time_unit(span)
    boundaries = [w["start_s"] for w in windows] if len(windows) <= 60 else []
    nodes = sorted(series.nodes, key=_node_order)
    faults = [
        FaultWindow(f.fault, f.start / scale, (f.end or f.start) / scale, f.detail)
        for f in soak_faults(windows)
    ]
    xmax = span / scale
    lane = lane_inches(faults, xmax, _AXES_WIDTH_IN)
    if lane > MAX_LANE_IN:
        lane = 0.0
    key = fault_key(faults) if lane else ()

    def resource(name: str, title: str, metric: str, ylabel: str, div: float, caption: str) -> Plot:
        with _style():
            height = _HEIGHT_IN + lane
            fig = Figure(figsize=(10, height))
            ax = fig.add_subplot()
            fig.subplots_adjust(
                left=0.08, right=0.98, top=1 - (_TOP_IN + lane) / height, bottom=0.48 / height
            )
            if xmax > 0:
                ax.set_xlim(0, xmax)  # first: with autoscaling on, each shaded fault rescales
            _background(ax, warmup, boundaries, scale)
            if lane:
                shade(ax, faults, xmax)
            else:
                _shade_many(ax, faults)
            if lane:
                fault_lane(ax, faults, xmax)
            for i, node in enumerate(nodes):
                pts = list(downsample(series.nodes[node].points(metric), max_points))
                color = NODE_COLORS[i % len(NODE_COLORS)]
                if pts:
                    ax.plot(
                        [t / scale for t, _ in pts],
                        [v / div for _, v in pts],
                        color=color,
                        linewidth=0.9,
                        label=node,
                    )
                if metric == "rss_bytes":
                    _fit_lines(ax, fits.get(node) or {}, color, scale)
            _finish(ax, title, unit, ylabel, bool(nodes), zero=metric != "rss_bytes")
            if xmax > 0:
                ax.set_xlim(0, xmax)
            if faults and not lane:
                caption = f"{caption} Shaded: the {len(faults)} faults (too many to number)."
            return Plot(f"plot-{name}", title, _svg(fig), caption.strip(), key)

    plots = [
        resource(
            "rss",
            "Resident memory per node",
            "rss_bytes",
            "MiB",
            MIB,
            "Dashed: the fitted RSS slope the leak check judged, one line per process lifetime "
            f"(a restart starts a new one). Grey: the {warmup:g} s warm-up the checks skip. "
            "The y-axis does not start at zero: small trends stay visible.",
        ),
        resource("fds", "Open file descriptors per node", "open_fds", "fds", 1.0, ""),
        resource("threads", "Threads per node", "threads", "threads", 1.0, ""),
        resource(
            "data",
            "Data directory per node",
            "data_bytes",
            "MiB",
            MIB,
            "With compaction working (snapshot every 2000 entries) the directory levels off.",
        ),
        resource("cpu", "CPU per node", "cpu_percent", "% of one core", 1.0, ""),
        _windows_plot(windows),
    ]
    return plots


def _background(ax: Axes, warmup: float, boundaries: Sequence[float], scale: float) -> None:
    if warmup > 0:
        ax.axvspan(0, warmup / scale, color="#eeeeee", zorder=0, linewidth=0)
    for b in boundaries[1:]:
        ax.axvline(b / scale, color="#cccccc", linewidth=0.5, zorder=0)


def _shade_many(ax: Axes, faults: Sequence[FaultWindow]) -> None:
    """`shade`'s colours, one collection per colour: thousands of faults in seconds, where
    one patch each (`shade`) takes a minute."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for f, k in zip(faults, fault_key(faults), strict=True):
        spans.setdefault(k.color, []).append((f.start, max((f.end or f.start) - f.start, 0.0)))
    for color, xranges in spans.items():
        ax.broken_barh(xranges, (0, 1), transform=ax.get_xaxis_transform(), color=color,
                       alpha=0.14, lw=0, zorder=0)  # fmt: skip


def _fit_lines(ax: Axes, fit: dict[str, Any], color: str, scale: float) -> None:
    if "slope_mib_per_hour" in fit:
        slope = float(fit["slope_mib_per_hour"] or 0.0) * MIB / 3600  # bytes per second
    else:  # results.json from before the soak spoke MiB
        slope = float(fit.get("slope_mb_per_hour") or 0.0) * 1e6 / 3600
    for seg in fit.get("segments") or []:
        b = seg.get("intercept")
        if b is None or (isinstance(b, float) and math.isnan(b)):
            continue
        t0, t1 = float(seg["t0"]), float(seg["t1"])
        ax.plot(
            [t0 / scale, t1 / scale],
            [(b + slope * t0) / MIB, (b + slope * t1) / MIB],
            color=color,
            linestyle="--",
            linewidth=1.3,
        )


def _finish(ax: Axes, title: str, unit: str, ylabel: str, has_data: bool, *, zero: bool) -> None:
    ax.set_title(title, loc="left")
    ax.set_xlabel(f"soak time ({unit})")
    ax.set_ylabel(ylabel)
    ax.set_xlim(left=0)
    if zero:
        ax.set_ylim(bottom=0)
    if has_data:
        ax.legend(loc="lower right", ncol=8)
    else:
        ax.text(0.5, 0.5, "no samples", transform=ax.transAxes, ha="center", color="#888888")


def _windows_plot(windows: Sequence[dict[str, Any]]) -> Plot:
    title = "Latency and throughput per window"
    with _style():
        fig = Figure(figsize=(10, 3.2))
        ax = fig.add_subplot()
        fig.subplots_adjust(left=0.08, right=0.92, top=0.9, bottom=0.16)
        xs = [int(w["index"]) for w in windows]
        if windows:
            ax2 = ax.twinx()
            ax2.bar(
                xs,
                [float(w.get("ok_per_s") or 0.0) for w in windows],
                color=[STATUS_COLORS.get(str(w.get("status")), "#999999") for w in windows],
                alpha=0.18,
                width=0.8,
                label="ok/s",
            )
            ax2.set_ylabel("ok ops/s (bars, coloured by verdict)")
            ax2.grid(False)
            ax2.spines["right"].set_visible(True)
            ax.set_zorder(ax2.get_zorder() + 1)
            ax.patch.set_visible(False)
            ax.plot(xs, [w.get("p99_ms") or 0.0 for w in windows], "o-", color="#14388a",
                    markersize=3, linewidth=1, label="p99 (all ok ops)")  # fmt: skip
            ax.plot(xs, [w.get("steady_p99_ms") or 0.0 for w in windows], "s--",
                    color="#2f6fde", markersize=3, linewidth=1, label="steady p99")  # fmt: skip
            ax.set_ylim(bottom=0)
            ax.legend(loc="upper left")
        else:
            ax.text(0.5, 0.5, "no windows checked", transform=ax.transAxes, ha="center")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if windows:
            ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
        ax.set_title(title, loc="left")
        ax.set_xlabel("window")
        ax.set_ylabel("latency (ms)")
        return Plot(
            "plot-windows",
            title,
            _svg(fig),
            "Steady p99 leaves out each window's first seconds, its fault and the seconds after "
            "it; the p99 drift check compares its median over the first and the last quarter of "
            "the windows (hours, in a soak of two hours or more).",
        )
