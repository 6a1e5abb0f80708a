"""Numbers about a run: operations by function and outcome, throughput, latency percentiles.

Latencies go through HdrHistogram (microsecond resolution, 3 significant digits), the same
structure load reports use, so percentiles here and there agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from lab.history import Op
from lab.history.op import OUTCOMES

MAX_LATENCY_US = 3_600_000_000
PERCENTILES = (50.0, 95.0, 99.0, 99.9)


@dataclass(frozen=True, slots=True)
class Sample:
    """One completed client operation; ``type`` is its outcome (`lab.history.op.OUTCOMES`)."""

    f: str
    type: str
    start_ns: int
    latency_ns: int
    node: str | None


def samples(events: Iterable[Op]) -> list[Sample]:
    """Pair each completion with its process's open invoke; nemesis events are skipped."""
    open_: dict[Any, Op] = {}
    out: list[Sample] = []
    for op in events:
        if op.is_nemesis or op.time is None:
            continue
        if op.type == "invoke":
            open_[op.process] = op
            continue
        inv = open_.pop(op.process, None)
        if inv is not None and inv.time is not None:
            out.append(Sample(op.f, op.outcome, inv.time, op.time - inv.time, op.node))
    return out


def histogram(latencies_ns: Iterable[int]) -> HdrHistogram:
    h = HdrHistogram(1, MAX_LATENCY_US, 3)
    for ns in latencies_ns:
        h.record_value(min(max(1, ns // 1000), MAX_LATENCY_US))
    return h


def latency_summary(h: HdrHistogram) -> dict[str, float]:
    """Percentiles and max in milliseconds (empty histogram: zeros)."""
    if h.get_total_count() == 0:
        return {"count": 0, **{f"p{p:g}": 0.0 for p in PERCENTILES}, "max": 0.0}
    out: dict[str, float] = {"count": h.get_total_count()}
    for p in PERCENTILES:
        out[f"p{p:g}"] = h.get_value_at_percentile(p) / 1000
    out["max"] = h.get_max_value() / 1000
    out["mean"] = round(h.get_mean_value() / 1000, 3)
    return out


def summarize(events: Iterable[Op], duration_s: float | None) -> dict[str, Any]:
    """What results.json says about the operations of a run.

    Outcomes are counted apart (`lab.history.op.OUTCOMES`): a cas whose compare failed is
    neither ``ok`` (``ok_per_s`` counts what succeeded) nor a ``fail``.

    Rates divide by ``duration_s`` (the planned workload), or by the span the operations
    really covered when it is ``None`` (a run stopped early must not be divided by a plan).
    """
    ss = samples(events)
    span_ns = max(s.start_ns + s.latency_ns for s in ss) - min(s.start_ns for s in ss) if ss else 0
    if duration_s is None:
        duration_s = span_ns / 1e9
    counts: dict[str, dict[str, int]] = {}
    for s in ss:
        by_type = counts.setdefault(s.f, dict.fromkeys(OUTCOMES, 0))
        by_type[s.type] = by_type.get(s.type, 0) + 1
    totals = {t: sum(c.get(t, 0) for c in counts.values()) for t in OUTCOMES}
    duration_s = max(duration_s, 1e-9)
    return {
        "ops": {"by_f": counts, "total": totals},
        "throughput": {
            "ok_per_s": round(totals["ok"] / duration_s, 2),
            "all_per_s": round(sum(totals.values()) / duration_s, 2),
            "span_seconds": round(span_ns / 1e9, 3),
        },
        "latency_ms": {
            "ok": latency_summary(histogram(s.latency_ns for s in ss if s.type == "ok")),
            "all": latency_summary(histogram(s.latency_ns for s in ss)),
        },
    }


def outcomes_text(totals: Mapping[str, int]) -> str:
    """``ok=N compare_failed=N fail=N info=N`` for terminal lines (older results, without
    compare failures counted apart, show 0)."""
    return " ".join(f"{k}={totals.get(k, 0)}" for k in OUTCOMES)
