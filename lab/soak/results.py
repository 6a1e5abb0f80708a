"""A soak's ``results.json``: every window's verdict and numbers, and the leak checks.

`assemble` is pure: window results and the resource series in, a JSON-able dict out, so the
soak rewrites it after every window (a long soak shows its progress) and tests can build one
from synthetic parts. The soak is valid when every window is valid and every leak check passes.

Leak checks, per node unless said otherwise (thresholds in `lab.soak.leaks.Thresholds`):

- ``rss_slope``: RSS growth within process lifetimes (MiB/hour), after the soak's warm-up and
  each restarted process's own warm-up;
- ``fd_growth`` and ``thread_growth``: in the node's longest process lifetime;
- ``data_dir_growth``: the data directory's slope (MiB/hour): compaction must level it off;
- ``data_dir_size`` / ``data_dir_ratio``: the directory against the live data it holds;
- ``p99_drift`` (soak-wide): the median steady-state window p99 of the last hour over the
  first (soaks shorter than two hours: the last quarter of the windows over the first quarter;
  for a two-window soak, the last window over the first). *Steady* leaves out each window's
  first `SETTLE_S`, its fault and the `SETTLE_S` after it, so the drift compares like with
  like, not one fault with another.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any, Final

from lab.history.op import OUTCOMES
from lab.soak.leaks import (
    Check,
    Thresholds,
    data_growth_check,
    data_size_check,
    growth_check,
    p99_drift_check,
    pooled_fit,
    rss_segments_check,
)
from lab.soak.resources import NodeSeries, ResourceSeries
from lab.soak.window import SETTLE_S, WindowResult, decode_hdr
from lab.stats import histogram, latency_summary

HOUR: Final = 3600.0
NO_DATA: Final = "not enough samples to judge"
"""The detail of a check that could not be judged: it fails, and the leak verdict is unknown
(not invalid) when every failed check is one of these."""
KIND: Final = "aspen-soak"
ORDER: Final = (
    "rss_slope",
    "fd_growth",
    "thread_growth",
    "data_dir_growth",
    "data_dir_size",
    "data_dir_ratio",
    "p99_drift",
)


def default_warmup(duration: float) -> float:
    """A quarter of the soak, at most ten minutes: before it, processes are still settling."""
    return min(600.0, 0.25 * duration)


def leak_checks(
    series: ResourceSeries,
    windows: Sequence[WindowResult],
    th: Thresholds,
    *,
    warmup_s: float,
    restart_warmup_s: float,
    nodes: int = 0,
) -> tuple[list[Check], dict[str, Any]]:
    """Every leak check, and what the plots draw: the RSS fits per node, the p99 basis.

    Nodes ``n1``..``n<nodes>`` get their checks even if they were never sampled (then the
    checks fail as not judged)."""
    checks: list[Check] = []
    fits: dict[str, Any] = {}
    live_bytes = sum(w.live_bytes for w in windows)
    names = set(series.nodes) | {f"n{i}" for i in range(1, nodes + 1)}
    for node in sorted(names, key=_node_key):
        ns = series.nodes.get(node) or NodeSeries()
        c, fit = _rss(node, ns, th, warmup_s, restart_warmup_s)
        checks.append(c)
        fits[node] = fit
        for metric, name, limit, unit in (
            ("open_fds", "fd_growth", th.fd_growth, "fds"),
            ("threads", "thread_growth", th.thread_growth, "threads"),
        ):
            checks.append(_growth(node, ns, metric, name, limit, unit, warmup_s, restart_warmup_s))
        data = [(t, v) for t, v in ns.points("data_bytes")]
        if len([p for p in data if p[0] >= warmup_s]) < 2:
            checks.append(_no_data("data_dir_growth", node, th.data_mib_per_hour, "MiB/hour"))
        else:
            checks.append(data_growth_check(node, data, warmup_s, th))
        if data:
            checks.append(data_size_check(node, data[-1][1], live_bytes, th))
        else:
            checks.append(_no_data("data_dir_size", node, th.max_small_data_bytes, "bytes"))
    checks.sort(key=lambda c: (ORDER.index(c.name), _node_key(c.node or "")))
    drift, basis = _p99_drift(windows, th)
    checks.append(drift)
    return checks, {"rss": fits, "p99": basis}


def _node_key(node: str) -> tuple[int, str]:
    digits = node.lstrip("n")
    return (int(digits), node) if digits.isdigit() else (1 << 30, node)


def _no_data(name: str, node: str | None, threshold: float, unit: str) -> Check:
    return Check(name, node, 0.0, threshold, False, unit, NO_DATA, judged=False)


def _rss(
    node: str, ns: NodeSeries, th: Thresholds, warmup_s: float, restart_warmup_s: float
) -> tuple[Check, dict[str, Any]]:
    segs = ns.segments("rss_bytes", warmup_s=warmup_s, restart_warmup_s=restart_warmup_s)
    if sum(len(s) for s in segs if len(s) >= 2) < 2:
        return _no_data("rss_slope", node, th.rss_mib_per_hour, "MiB/hour"), {"segments": []}
    note = f"after {warmup_s:g}s warm-up"
    if ns.restarts:
        note += f" ({ns.restarts} restarts, {restart_warmup_s:g}s skipped after each)"
    check = rss_segments_check(node, segs, th, note)
    fit, intercepts = pooled_fit(segs)
    return check, {
        "slope_mib_per_hour": check.value,
        "r2": round(fit.r2, 4),
        "restarts": ns.restarts,
        "segments": [
            {"t0": s[0][0], "t1": s[-1][0], "intercept": b}
            for s, b in zip(segs, intercepts, strict=True)
            if len(s) >= 2
        ],
    }


def _growth(
    node: str,
    ns: NodeSeries,
    metric: str,
    name: str,
    limit: float,
    unit: str,
    warmup_s: float,
    restart_warmup_s: float,
) -> Check:
    segs = ns.segments(metric, warmup_s=warmup_s, restart_warmup_s=restart_warmup_s)
    if not segs or max(len(s) for s in segs) < 2:
        return _no_data(name, node, limit, unit)
    longest = max(segs, key=lambda s: s[-1][0] - s[0][0])
    c = growth_check(name, node, longest, 0.0, limit, unit)
    span = longest[-1][0] - longest[0][0]
    where = "the longest process lifetime" if len(segs) > 1 else "the process"
    return dataclasses.replace(
        c, detail=f"{c.detail}, in {where} ({span:.0f} s, {len(longest)} samples after warm-up)"
    )


def _p99_drift(windows: Sequence[WindowResult], th: Thresholds) -> tuple[Check, dict[str, Any]]:
    """The median steady-state p99 of the first hour's windows against the last hour's (soaks
    shorter than two hours: the first quarter of the windows against the last, which for a
    two-window soak is the first window against the last). A median of window p99s moves with a
    sustained drift, not with one window that met a busy machine."""
    done = sorted((w for w in windows if not w.interrupted and w.steady_ops), key=lambda w: w.index)
    if len(done) < 2:
        c = Check(
            "p99_drift", None, 1.0, th.p99_drift, True, "x",
            "fewer than two windows with steady-state operations: nothing to compare",
        )  # fmt: skip
        return c, {"basis": "none"}
    span = done[-1].end_s - done[0].start_s
    if span >= 2 * HOUR:
        first = [w for w in done if w.start_s < done[0].start_s + HOUR]
        last = [w for w in done if w.end_s > done[-1].end_s - HOUR]
        basis, label = "hour", "hour"
    else:
        k = max(1, len(done) // 4)
        first, last = done[:k], done[-k:]
        basis, label = ("window", "window") if k == 1 else ("windows", f"{k} windows")
    p_first = statistics.median(w.steady_p99_ms for w in first)
    p_last = statistics.median(w.steady_p99_ms for w in last)
    c = p99_drift_check(p_first, p_last, th, span)
    median = "" if len(first) == 1 else "median "

    def span_text(ws: list[WindowResult]) -> str:
        n = sum(w.steady_ops for w in ws)
        if len(ws) == 1:
            return f"window {ws[0].index}, {n} ops"
        return f"windows {ws[0].index}-{ws[-1].index}, {n} ops"

    judged = (
        f"a drift must exceed {th.p99_drift:g}x and add {th.p99_floor_ms:g} ms"
        if span >= th.min_drift_span_s
        else f"not judged: {span:.0f} s of soak is too short to tell drift from noise "
        f"(needs {th.min_drift_span_s:g} s)"
    )
    detail = (
        f"{judged}; "
        f"{median}steady-state p99 (not in a window's first {SETTLE_S:g} s, its fault or the "
        f"{SETTLE_S:g} s after it): first {label} {p_first:.1f} ms ({span_text(first)}), "
        f"last {label} {p_last:.1f} ms ({span_text(last)})"
    )
    info = {
        "basis": basis,
        "first_p99_ms": p_first,
        "last_p99_ms": p_last,
        "first_windows": [w.index for w in first],
        "last_windows": [w.index for w in last],
    }
    return dataclasses.replace(c, detail=detail), info


def _resource_summary(series: ResourceSeries) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in sorted(series.nodes, key=_node_key):
        ns = series.nodes[node]
        entry: dict[str, Any] = {"samples": len(ns), "restarts": ns.restarts, "down_samples": 0}
        entry["down_samples"] = len(ns.down)
        for m in ("rss_bytes", "open_fds", "threads", "data_bytes"):
            vals = ns.values[m]
            entry[m] = {"first": vals[0], "last": vals[-1], "max": max(vals)} if len(vals) else None
        out[node] = entry
    return out


def _windows_verdict(windows: Sequence[WindowResult]) -> str:
    statuses = {w.status for w in windows if not w.interrupted}
    statuses |= {"invalid" for w in windows if w.interrupted and "invalid" in w.verdicts.values()}
    if "invalid" in statuses:
        return "invalid"
    if "unknown" in statuses or "valid" not in statuses:
        return "unknown"
    return "valid"


def _leaks_verdict(checks: Sequence[Check]) -> str:
    failed = [c for c in checks if not c.passed]
    if any(c.detail != NO_DATA for c in failed):
        return "invalid"
    if failed or not any(c.node for c in checks):
        return "unknown"
    return "valid"


def _totals(windows: Sequence[WindowResult]) -> dict[str, Any]:
    ops = {k: sum(w.ops.get(k, 0) for w in windows) for k in OUTCOMES}
    seconds = sum(w.length_s for w in windows) or 1e-9
    ok_h = histogram(())
    for w in windows:
        if w.ok_hdr:
            ok_h.add(decode_hdr(w.ok_hdr))
    recoveries = [w.recovery_s for w in windows if w.recovery_s is not None]
    return {
        "ops": {"total": ops},
        "throughput": {
            "ok_per_s": round(ops["ok"] / seconds, 2),
            "all_per_s": round(sum(ops.values()) / seconds, 2),
        },
        "latency_ms": {"ok": latency_summary(ok_h)},
        "recovery_seconds": max(recoveries, default=None),
    }


def assemble(
    config: dict[str, Any],
    windows: Sequence[WindowResult],
    series: ResourceSeries,
    th: Thresholds,
    *,
    warmup_s: float,
    restart_warmup_s: float,
    planned: int,
    elapsed_s: float,
    interrupted: bool = False,
    errors: Sequence[str] = (),
    final: bool = True,
) -> dict[str, Any]:
    """``results.json`` of a soak. ``final`` False: the soak is still running, and the
    verdicts are those of what has been checked so far."""
    ordered = sorted(windows, key=lambda w: w.index)
    checks, fits = leak_checks(
        series,
        ordered,
        th,
        warmup_s=warmup_s,
        restart_warmup_s=restart_warmup_s,
        nodes=int(config.get("nodes") or 0),
    )
    leaks_passed = all(c.passed for c in checks)
    verdicts = {"windows": _windows_verdict(ordered), "leaks": _leaks_verdict(checks)}
    valid = all(v == "valid" for v in verdicts.values()) and not errors
    return {
        "kind": KIND,
        "scenario": f"soak {config.get('scenario', '')}".strip(),
        "seed": config.get("seed"),
        "nodes": config.get("nodes"),
        "duration": config.get("duration"),
        "config": config,
        "rerun": config.get("rerun"),
        "running": not final,
        "complete": final and len(ordered) == planned and not interrupted,
        "interrupted": interrupted,
        "windows_planned": planned,
        "windows_checked": len(ordered),
        "elapsed_s": round(elapsed_s, 3),
        "valid": valid,
        "verdicts": verdicts,
        **_totals(ordered),
        "windows": [w.to_json() for w in ordered],
        "leaks": {
            "passed": leaks_passed,
            "warmup_s": warmup_s,
            "restart_warmup_s": restart_warmup_s,
            "thresholds": dataclasses.asdict(th),
            "checks": [c.to_json() for c in checks],
            "fits": fits,
        },
        "resources": _resource_summary(series),
        "errors": list(errors),
    }
