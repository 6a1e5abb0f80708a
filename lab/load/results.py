"""``results.json`` of a load run, and the machine it ran on.

Shape (``SCHEMA`` 1)::

    {"schema": 1, "kind": "aspen-load", "started": iso8601,
     "interrupted": false | the first signal's name ("SIGINT", "SIGTERM"),
     "machine": {"cores", "cpu_model", "python", "platform", "loadavg_start", "loadavg_end"},
     "config": {... the command line's settings ...},
     "target": {"db", "nodes", "fsync", "endpoints"},
     "load_phase": <phase> | null,
     "workloads": {"A": <phase> + {"workload", "description", "distribution", "ramp"?}, ...},
     "gates": <gates.compare(...)> | absent}

    <phase> = {"mode", "clients", "target_rate", "duration_s", "ops", "ok", "conflicts",
               "errors": {kind: n}, "error_count", "error_rate", "throughput" (ok ops/s),
               "latency_ms": {"count", "p50", "p95", "p99", "p99.9", "max", "mean"},
               "by_op": {"read": {"ops", "latency_ms"}, ...}, "timeline": [ops per second],
               "client_cpu_s", "client_cpu_us_per_op" (the generator's own cost), "interrupted",
               open loop only: "service_ms", "lag_ms"}

A baseline is a results.json (``--save-baseline`` writes one without the per-second timelines).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from pathlib import Path
from typing import Any

SCHEMA = 1
KIND = "aspen-load"
MACHINE_KEYS = ("cores", "cpu_model", "python")
"""What must match for two runs' numbers to be comparable."""


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The ``model name`` line of /proc/cpuinfo (the platform's processor name elsewhere)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """The machine a run measured: what numbers from another machine cannot be compared to."""
    return {
        "cores": os.cpu_count() or 0,
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_start": loadavg(),
    }


def new_results(config: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": KIND,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "interrupted": False,
        "machine": machine(),
        "config": config,
        "target": target,
        "load_phase": None,
        "workloads": {},
    }


def finish(results: dict[str, Any]) -> dict[str, Any]:
    results["machine"]["loadavg_end"] = loadavg()
    return results


def as_baseline(results: dict[str, Any]) -> dict[str, Any]:
    """A results.json without what a baseline does not need (the timelines)."""
    out = {k: v for k, v in results.items() if k not in ("gates", "load_phase")}
    out["workloads"] = {
        name: {k: v for k, v in w.items() if k != "timeline"}
        for name, w in results.get("workloads", {}).items()
    }
    return out


def validate(results: Any) -> list[str]:
    """Problems with a results (or baseline) document; empty when it has the expected shape."""
    problems: list[str] = []
    if not isinstance(results, dict):
        return ["not a JSON object"]
    if results.get("schema") != SCHEMA:
        problems.append(f"schema is {results.get('schema')!r}, expected {SCHEMA}")
    m = results.get("machine")
    if not isinstance(m, dict) or any(k not in m for k in MACHINE_KEYS):
        problems.append(f"machine must have {', '.join(MACHINE_KEYS)}")
    workloads = results.get("workloads")
    if not isinstance(workloads, dict):
        return [*problems, "workloads must be an object"]
    for name, w in workloads.items():
        if not isinstance(w, dict):
            problems.append(f"workload {name}: not an object")
            continue
        for key in ("ops", "throughput", "error_rate", "latency_ms", "errors"):
            if key not in w:
                problems.append(f"workload {name}: missing {key}")
        lat = w.get("latency_ms", {})
        for key in ("p50", "p95", "p99", "p99.9", "max"):
            if isinstance(lat, dict) and key not in lat:
                problems.append(f"workload {name}: latency_ms missing {key}")
    return problems
