"""Sign-off gates: does this run hold up against a stored baseline?

Three gates per workload present in both the run and the baseline:

* ``throughput``: fails when throughput dropped by more than ``throughput_drop`` (10%);
* ``p99``: fails when p99 latency rose by more than ``p99_rise`` (20%);
* ``error_rate``: fails when the run's error rate is above ``max_error_rate`` (0.1%), whatever
  the baseline had (it is shown beside it).

A workload in the baseline that the run did not measure is reported (``missing``) but fails no
gate: the run measured something else. Numbers from another machine (cores, CPU model, Python
version differ) are compared all the same, with a warning: the gates then say little.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lab.load.results import MACHINE_KEYS


@dataclass(frozen=True, slots=True)
class Gates:
    throughput_drop: float = 0.10
    """Largest tolerated throughput drop, as a fraction of the baseline's."""
    p99_rise: float = 0.20
    """Largest tolerated p99 rise, as a fraction of the baseline's."""
    max_error_rate: float = 0.001
    """Largest tolerated error rate (errors / operations)."""

    def __post_init__(self) -> None:
        if min(self.throughput_drop, self.p99_rise, self.max_error_rate) < 0:
            raise ValueError("gate thresholds must be >= 0")


@dataclass(frozen=True, slots=True)
class GateResult:
    workload: str
    gate: str
    value: float
    baseline: float | None
    delta: float | None
    """Relative change (value / baseline - 1); None when there is no baseline number."""
    limit: str
    passed: bool


def _relative(value: float, base: float) -> float | None:
    return None if base == 0 else value / base - 1.0


def machine_differences(run: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """What differs between the two machines, one sentence each (empty: same machine)."""
    a, b = run.get("machine", {}), baseline.get("machine", {})
    return [
        f"{key}: baseline {b.get(key)!r}, this run {a.get(key)!r}"
        for key in MACHINE_KEYS
        if a.get(key) != b.get(key)
    ]


def check_workload(
    name: str, run: dict[str, Any], base: dict[str, Any], g: Gates
) -> list[GateResult]:
    tput, btput = float(run["throughput"]), float(base["throughput"])
    tdelta = _relative(tput, btput)
    p99, bp99 = float(run["latency_ms"]["p99"]), float(base["latency_ms"]["p99"])
    pdelta = _relative(p99, bp99)
    err, berr = float(run["error_rate"]), float(base.get("error_rate", 0.0))
    return [
        GateResult(
            name,
            "throughput",
            tput,
            btput,
            tdelta,
            f">= -{g.throughput_drop:.0%}",
            tdelta is None or tdelta >= -g.throughput_drop,
        ),
        GateResult(
            name,
            "p99",
            p99,
            bp99,
            pdelta,
            f"<= +{g.p99_rise:.0%}",
            (p99 <= 0) if pdelta is None else pdelta <= g.p99_rise,
        ),
        GateResult(
            name,
            "error_rate",
            err,
            berr,
            err - berr,
            f"<= {g.max_error_rate:.2%}",
            err <= g.max_error_rate,
        ),
    ]


def compare(
    run: dict[str, Any], baseline: dict[str, Any], gates: Gates | None = None
) -> dict[str, Any]:
    """Every gate of every workload the two share; ``passed`` is False if any gate failed."""
    g = gates or Gates()
    results: list[GateResult] = []
    missing: list[str] = []
    run_w, base_w = run.get("workloads", {}), baseline.get("workloads", {})
    for name, base in base_w.items():
        if name not in run_w:
            missing.append(name)
            continue
        results.extend(check_workload(name, run_w[name], base, g))
    differences = machine_differences(run, baseline)
    warnings = []
    if differences:
        warnings.append("baseline was measured on a different machine: " + "; ".join(differences))
    if not results:
        warnings.append("the run and the baseline share no workload: nothing was compared")
    return {
        "passed": all(r.passed for r in results),
        "thresholds": asdict(g),
        "results": [asdict(r) for r in results],
        "missing": missing,
        "not_in_baseline": [n for n in run_w if n not in base_w],
        "cross_machine": bool(differences),
        "machine_differences": differences,
        "warnings": warnings,
        "baseline_machine": baseline.get("machine", {}),
        "baseline_started": baseline.get("started"),
    }
