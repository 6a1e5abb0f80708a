"""Leak and drift detection over a soak run's resource and latency series.

Each check is a pass/fail with the number it was judged on, so a report can show *why*:
RSS slope (MiB/hour, least-squares fit after warm-up, within process lifetimes when nodes are
restarted), open-fd and thread growth (robust: the median of the last tenth against the median
of the first tenth after warm-up, so one spike does not count as growth), p99 drift (last window
against the first), data-dir growth (MiB/hour) and data-dir size against the live data it holds
(compaction must keep the files bounded). Slopes must also add up to real growth over the time
analysed, and a drift to real milliseconds: a soak of minutes can only catch gross leaks, and
says so instead of failing on a process settling in.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

MIB: Final = float(1 << 20)
"""Sizes and slopes are binary, as on the soak's page: MiB, MiB/hour."""


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
    judged: bool = True
    """False when the check deliberately did not judge its number (a soak too short for it)."""

    @property
    def result(self) -> str:
        """``not judged`` when the check did not judge its number (a soak too short for it, or
        no samples: the detail says which); ``fail``; ``not judged`` too when it passed on
        something other than its number (a value over the limit that the fit or the growth
        says is noise); else ``pass``. A value over its limit is
        never shown as a plain pass."""
        if not self.judged:
            return "not judged"
        if not self.passed:
            return "fail"
        if self.value > self.threshold:
            return "not judged"
        return "pass"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "result": self.result}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The limits, sizes in MiB (they were MB: the round numbers stayed, about 5% looser)."""

    rss_mib_per_hour: float = 50.0
    """A fitted RSS slope above this (with a fit that explains the data) is a leak."""
    min_r2: float = 0.3
    """Below this the RSS series is noise around a level, not a trend."""
    fd_growth: float = 20.0
    thread_growth: float = 10.0
    p99_drift: float = 1.5
    """Last-window p99 over first-window p99."""
    p99_floor_ms: float = 20.0
    """A drift must also add at least this much p99: with a few hundred operations on each
    side (a short soak's windows) a p99 moves that much by chance."""
    min_drift_span_s: float = 600.0
    """A soak shorter than this shows its p99 ratio without judging it: two windows of a
    minute on a shared machine differ by 2x as often as not."""
    data_ratio: float = 20.0
    """Data-dir bytes per byte of live data, once there is some."""
    min_live_bytes: int = 1 << 20
    """Below this much live data the ratio is dominated by fixed overheads: only the absolute
    size is judged (``max_small_data_bytes``)."""
    max_small_data_bytes: int = 256 << 20
    min_rss_growth_mib: float = 16.0
    """A slope is a leak only if it also adds up to this much growth over the analysed span:
    a short soak's extrapolated slope (a process settling in) must not fail it."""
    data_mib_per_hour: float = 10.0
    """A fitted data-dir slope above this (with growth of at least ``min_data_growth_mib``)
    means compaction is not keeping up: the default rate writes ~24 MiB/hour of log without
    it."""
    min_data_growth_mib: float = 8.0


def _after(series: Sequence[tuple[float, float]], warmup_s: float) -> list[tuple[float, float]]:
    return [(t, v) for t, v in series if t >= warmup_s]


def pooled_fit(segments: Sequence[Sequence[tuple[float, float]]]) -> tuple[Fit, list[float]]:
    """One slope shared by every segment, each with its own intercept (a fixed-effects fit).

    A node restarted by a fault starts a new process whose memory starts low again: fitting
    one line through the restarts would see a saw, not a trend. Here each process lifetime is a
    segment and only the growth *within* segments counts. Returns the fit (``intercept`` is
    the first segment's, ``r2`` the within-segment one) and every segment's intercept (NaN for
    a segment with fewer than two points). With one segment this is `linear_fit`.
    """
    sxx = sxy = syy = 0.0
    means: list[tuple[float, float] | None] = []
    for seg in segments:
        if len(seg) < 2:
            means.append(None)
            continue
        mx = sum(t for t, _ in seg) / len(seg)
        my = sum(v for _, v in seg) / len(seg)
        means.append((mx, my))
        for t, v in seg:
            sxx += (t - mx) ** 2
            sxy += (t - mx) * (v - my)
            syy += (v - my) ** 2
    slope = sxy / sxx if sxx > 0 else 0.0
    intercepts = [float("nan") if m is None else m[1] - slope * m[0] for m in means]
    ss_res = syy - slope * sxy
    r2 = 1 - ss_res / syy if syy > 0 and sxx > 0 else (1.0 if sxx > 0 else 0.0)
    first = next((i for i in intercepts if i == i), 0.0)
    return Fit(slope, first, max(0.0, r2)), intercepts


def rss_check(
    node: str, series: Sequence[tuple[float, float]], warmup_s: float, th: Thresholds
) -> Check:
    """``series`` is (seconds, RSS bytes) of one process; the first ``warmup_s`` are skipped."""
    return rss_segments_check(node, [_after(series, warmup_s)], th, f"after {warmup_s:g}s warm-up")


def rss_segments_check(
    node: str, segments: Sequence[Sequence[tuple[float, float]]], th: Thresholds, note: str = ""
) -> Check:
    """RSS slope within process lifetimes (`pooled_fit`), in MiB/hour.

    A leak is a slope above ``rss_mib_per_hour`` that explains the data (r2 >= ``min_r2``) and
    adds up to at least ``min_rss_growth_mib`` over the analysed time: a soak of minutes can
    only catch a gross leak, and says so in the detail.
    """
    fit, _ = pooled_fit(segments)
    used = [seg for seg in segments if len(seg) >= 2]
    span = sum(seg[-1][0] - seg[0][0] for seg in used)
    mib_per_hour = fit.slope * 3600 / MIB
    growth_mib = fit.slope * span / MIB
    leaking = (
        mib_per_hour > th.rss_mib_per_hour
        and fit.r2 >= th.min_r2
        and growth_mib >= th.min_rss_growth_mib
    )
    lifetimes = f" in {len(used)} process lifetimes" if len(used) > 1 else ""
    return Check(
        "rss_slope",
        node,
        round(mib_per_hour, 3),
        th.rss_mib_per_hour,
        not leaking,
        "MiB/hour",
        f"least-squares over {sum(len(s) for s in used)} samples{lifetimes}"
        f"{' ' + note if note else ''}, r2={fit.r2:.2f}, fitted growth {growth_mib:.1f} MiB "
        f"over {span:.0f} s (a leak needs >= {th.min_rss_growth_mib:g} MiB)",
    )


def data_growth_check(
    node: str, series: Sequence[tuple[float, float]], warmup_s: float, th: Thresholds
) -> Check:
    """Data-dir slope (``series`` is (seconds, bytes)) after warm-up, in MiB/hour: with
    compaction working the directory levels off; without it, it grows with every write."""
    pts = _after(series, warmup_s)
    fit = linear_fit([t for t, _ in pts], [v for _, v in pts])
    span = pts[-1][0] - pts[0][0] if len(pts) >= 2 else 0.0
    mib_per_hour = fit.slope * 3600 / MIB
    growth_mib = fit.slope * span / MIB
    growing = (
        mib_per_hour > th.data_mib_per_hour
        and fit.r2 >= th.min_r2
        and growth_mib >= th.min_data_growth_mib
    )
    return Check(
        "data_dir_growth",
        node,
        round(mib_per_hour, 3),
        th.data_mib_per_hour,
        not growing,
        "MiB/hour",
        f"least-squares over {len(pts)} samples after {warmup_s:g}s warm-up, r2={fit.r2:.2f}, "
        f"fitted growth {growth_mib:.2f} MiB over {span:.0f} s "
        f"(growth needs >= {th.min_data_growth_mib:g} MiB)",
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


def p99_drift_check(
    first_p99_ms: float, last_p99_ms: float, th: Thresholds, span_s: float | None = None
) -> Check:
    """Drift is a ratio above ``p99_drift`` that also adds ``p99_floor_ms`` or more, over a
    soak of at least ``min_drift_span_s`` (``span_s`` None: long enough)."""
    ratio = last_p99_ms / first_p99_ms if first_p99_ms > 0 else 1.0
    long_enough = span_s is None or span_s >= th.min_drift_span_s
    drifted = long_enough and ratio > th.p99_drift and last_p99_ms - first_p99_ms >= th.p99_floor_ms
    return Check(
        "p99_drift",
        None,
        round(ratio, 3),
        th.p99_drift,
        not drifted,
        "x",
        f"first window p99 {first_p99_ms:.1f} ms, last window p99 {last_p99_ms:.1f} ms"
        + ("" if long_enough else f"; not judged in a soak under {th.min_drift_span_s:g} s"),
        judged=long_enough,
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
