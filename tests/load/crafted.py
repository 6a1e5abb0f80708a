"""Crafted results documents for the gate, results and report tests."""

from __future__ import annotations

import copy
from typing import Any

MACHINE = {"cores": 2, "cpu_model": "AMD EPYC", "python": "3.11.7", "platform": "Linux"}


def workload(throughput: float, p99: float, error_rate: float = 0.0) -> dict[str, Any]:
    ops = 10_000
    errors = round(ops * error_rate)
    return {
        "workload": "A",
        "description": "update heavy",
        "distribution": "zipfian",
        "mode": "closed",
        "clients": 16,
        "target_rate": None,
        "duration_s": 10.0,
        "ops": ops,
        "ok": ops - errors,
        "conflicts": 0,
        "errors": {"timeout": errors} if errors else {},
        "error_count": errors,
        "error_rate": error_rate,
        "throughput": throughput,
        "latency_ms": {
            "count": ops,
            "p50": p99 / 4,
            "p95": p99 / 2,
            "p99": p99,
            "p99.9": p99 * 1.5,
            "max": p99 * 2,
            "mean": p99 / 3,
        },
        "by_op": {},
        "timeline": [1000] * 10,
        "interrupted": False,
    }


def results(
    workloads: dict[str, dict[str, Any]], machine: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "schema": 1,
        "kind": "aspen-load",
        "started": "2026-01-01T00:00:00+00:00",
        "interrupted": False,
        "machine": copy.deepcopy(machine or MACHINE),
        "config": {"workloads": ",".join(workloads), "mode": "closed"},
        "target": {"db": "aspen", "nodes": 3, "fsync": "always"},
        "load_phase": None,
        "workloads": workloads,
    }
