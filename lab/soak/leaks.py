"""Leak and drift detection over a soak run's resource and latency series.

Each check is a pass/fail with the number it was judged on, so a report can show *why*:
RSS slope (MB/hour, least-squares fit after warm-up), open-fd and thread growth (robust: the
median of the last tenth against the median of the first tenth after warm-up, so one spike does
not count as growth), p99 drift (last window against the first), and data-dir size against the
live data it holds (compaction must keep the files bounded).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Fit:
    slope: float
    intercept: float
    r2: float


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """Least-squares line through the points; slope 0 and r2 0 when it is undetermined."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return Fit(0.0, ys[0] if ys else 0.0, 0.0)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return Fit(0.0, my, 0.0)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return Fit(slope, intercept, r2)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    node: str | None
    value: float
    threshold: float
    passed: bool
    unit: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Thresholds:
    rss_mb_per_hour: float = 50.0
    """A fitted RSS slope above this (with a fit that explains the data) is a leak."""
    min_r2: float = 0.3
    """Below this the RSS series is noise around a level, not a trend."""
    fd_growth: float = 20.0
    thread_growth: float = 10.0
    p99_drift: float = 1.5
    """Last-window p99 over first-window p99."""
    data_ratio: float = 20.0
    """Data-dir bytes per byte of live data, once there is some."""
    min_live_bytes: int = 1 << 20
    """Below this much live data the ratio is dominated by fixed overheads: only the absolute
    size is judged (``max_small_data_bytes``)."""
    max_small_data_bytes: int = 256 << 20


def _after(series: Sequence[tuple[float, float]], warmup_s: float) -> list[tuple[float, float]]:
    return [(t, v) for t, v in series if t >= warmup_s]


def rss_check(
    node: str, series: Sequence[tuple[float, float]], warmup_s: float, th: Thresholds
) -> Check:
    """``series`` is (seconds, RSS bytes)."""
    pts = _after(series, warmup_s)
    fit = linear_fit([t for t, _ in pts], [v for _, v in pts])
    mb_per_hour = fit.slope * 3600 / 1e6
    leaking = mb_per_hour > th.rss_mb_per_hour and fit.r2 >= th.min_r2
    return Check(
        "rss_slope",
        node,
        round(mb_per_hour, 3),
        th.rss_mb_per_hour,
        not leaking,
        "MB/hour",
        f"least-squares over {len(pts)} samples after {warmup_s:g}s warm-up, r2={fit.r2:.2f}",
    )


def growth(series: Sequence[tuple[float, float]], warmup_s: float) -> float:
    """Median of the last tenth minus median of the first tenth (after warm-up)."""
    vals = [v for _, v in _after(series, warmup_s)]
    if len(vals) < 2:
        return 0.0
    k = max(1, len(vals) // 10)
    return statistics.median(vals[-k:]) - statistics.median(vals[:k])


def growth_check(
    name: str,
    node: str,
    series: Sequence[tuple[float, float]],
    warmup_s: float,
    limit: float,
    unit: str,
) -> Check:
    g = growth(series, warmup_s)
    return Check(name, node, g, limit, g <= limit, unit, "median of last tenth - first tenth")


def p99_drift_check(first_p99_ms: float, last_p99_ms: float, th: Thresholds) -> Check:
    ratio = last_p99_ms / first_p99_ms if first_p99_ms > 0 else 1.0
    return Check(
        "p99_drift",
        None,
        round(ratio, 3),
        th.p99_drift,
        ratio <= th.p99_drift,
        "x",
        f"first window p99 {first_p99_ms:.1f} ms, last window p99 {last_p99_ms:.1f} ms",
    )


def data_size_check(node: str, data_bytes: float, live_bytes: float, th: Thresholds) -> Check:
    if live_bytes < th.min_live_bytes:
        return Check(
            "data_dir_size",
            node,
            data_bytes,
            th.max_small_data_bytes,
            data_bytes <= th.max_small_data_bytes,
            "bytes",
            f"only {live_bytes:.0f} bytes live: judged on absolute size",
        )
    ratio = data_bytes / live_bytes
    return Check(
        "data_dir_ratio",
        node,
        round(ratio, 2),
        th.data_ratio,
        ratio <= th.data_ratio,
        "x live data",
        f"{data_bytes:.0f} bytes on disk for {live_bytes:.0f} bytes of live data",
    )
