from __future__ import annotations

from lab.history import Op
from lab.stats import outcomes_text, samples, summarize

MS = 1_000_000


def ev(i: int, p: object, t: str, f: str, time: int, value: object = None) -> Op:
    return Op(index=i, process=p, type=t, f=f, time=time, value=value)  # type: ignore[arg-type]


HISTORY = [
    ev(0, 0, "invoke", "write", 0),
    ev(1, 1, "invoke", "read", 1 * MS),
    ev(2, "nemesis", "info", "start-partition", 2 * MS),
    ev(3, 0, "ok", "write", 10 * MS),
    ev(4, 1, "info", "read", 101 * MS),
    ev(5, 2, "invoke", "write", 102 * MS),
    ev(6, 2, "fail", "write", 104 * MS),
    ev(7, 3, "invoke", "read", 105 * MS),
    ev(8, 4, "invoke", "cas", 106 * MS, [1, 2]),
    ev(9, 4, "ok", "cas", 107 * MS, False),
]


def test_samples_pair_by_process_and_skip_nemesis_and_open_ops() -> None:
    ss = samples(HISTORY)
    assert [(s.f, s.type, s.latency_ns) for s in ss] == [
        ("write", "ok", 10 * MS),
        ("read", "info", 100 * MS),
        ("write", "fail", 2 * MS),
        ("cas", "compare_failed", 1 * MS),
    ]


def test_summary_counts_throughput_and_latency() -> None:
    r = summarize(HISTORY, duration_s=2.0)
    assert r["ops"]["by_f"] == {
        "write": {"ok": 1, "compare_failed": 0, "fail": 1, "info": 0},
        "read": {"ok": 0, "compare_failed": 0, "fail": 0, "info": 1},
        "cas": {"ok": 0, "compare_failed": 1, "fail": 0, "info": 0},
    }
    assert r["ops"]["total"] == {"ok": 1, "compare_failed": 1, "fail": 1, "info": 1}
    assert r["throughput"] == {"ok_per_s": 0.5, "all_per_s": 2.0, "span_seconds": 0.107}
    assert r["latency_ms"]["ok"]["count"] == 1
    assert abs(r["latency_ms"]["ok"]["p50"] - 10.0) < 0.05
    assert abs(r["latency_ms"]["all"]["max"] - 100.0) < 0.1


def test_empty_history_summarizes_to_zeros() -> None:
    r = summarize([], duration_s=1.0)
    assert r["ops"]["total"] == {"ok": 0, "compare_failed": 0, "fail": 0, "info": 0}
    assert r["latency_ms"]["ok"]["p99"] == 0.0


def test_a_run_cut_short_is_divided_by_the_time_its_operations_covered() -> None:
    r = summarize(HISTORY, duration_s=None)
    assert r["throughput"]["span_seconds"] == 0.107
    assert r["throughput"]["ok_per_s"] == round(1 / 0.107, 2)


def test_outcomes_text_names_compare_failures_apart() -> None:
    assert outcomes_text({"ok": 3, "compare_failed": 2, "fail": 1}) == (
        "ok=3 compare_failed=2 fail=1 info=0"
    )
