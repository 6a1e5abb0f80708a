"""`nox -s bench` judges every release target of issue #19 from the ratios it measured."""

from __future__ import annotations

from typing import Any

from lab.load.bench import GOALS, ratios, verdicts


def _row(db: str, op: str, clients: int, tput: float, p50: float, p99: float) -> dict[str, Any]:
    return {
        "db": db,
        "op": op,
        "clients": clients,
        "throughput": tput,
        "latency_ms": {"p50": p50, "p99": p99},
    }


def test_ratios_are_aspen_over_the_other_store_per_op_and_clients() -> None:
    rows = [_row("aspen", "put", 32, 500, 20, 80), _row("etcd", "put", 32, 1000, 10, 40)]
    rows.append(_row("aspen", "get", 32, 900, 5, 9))  # etcd did not measure it: no ratio
    (r,) = ratios(rows, "etcd")
    assert r == {
        "op": "put",
        "clients": 32,
        "throughput_ratio": 0.5,
        "p50_ratio": 2.0,
        "p99_ratio": 2.0,
    }


def test_one_verdict_per_target_met_missed_or_not_measured() -> None:
    rows = [
        _row("aspen", "put", 32, 1100, 9, 30),
        _row("etcd", "put", 32, 1000, 10, 40),
        _row("aspen", "put", 64, 900, 9, 50),
        _row("etcd", "put", 64, 1000, 10, 40),
        _row("aspen", "get", 32, 1200, 2, 4),
        _row("etcd", "get", 32, 1000, 2, 4),
    ]
    by_target = {v["target"]: v for v in verdicts(ratios(rows, "etcd"))}
    assert len(by_target) == len(GOALS)
    assert by_target["put at 32 clients: throughput_ratio >= 1.0x"]["met"] is True
    assert by_target["put at 32 clients: p99_ratio <= 1.0x"]["met"] is True
    assert by_target["put at 64 clients: throughput_ratio >= 1.0x"]["met"] is False
    assert by_target["put at 64 clients: p99_ratio <= 1.0x"] == {
        "target": "put at 64 clients: p99_ratio <= 1.0x",
        "value": 1.25,
        "met": False,
    }
    assert by_target["get at 32 clients: throughput_ratio >= 1.1x"]["met"] is True
    assert by_target["put at 1 clients: p50_ratio <= 1.0x"]["met"] is None
