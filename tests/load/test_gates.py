"""Sign-off gates on crafted results: pass, each kind of fail, another machine, missing work."""

from __future__ import annotations

from typing import Any

import pytest

from lab.load.gates import Gates, compare
from tests.load.crafted import MACHINE, results, workload

BASE = results({"A": workload(1000.0, 10.0), "C": workload(2000.0, 5.0)})


def by_gate(report: dict[str, Any], workload: str, gate: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        r for r in report["results"] if (r["workload"], r["gate"]) == (workload, gate)
    )
    return found


def test_a_run_within_every_gate_passes() -> None:
    run = results({"A": workload(950.0, 11.5, 0.0005), "C": workload(2100.0, 4.0)})
    g = compare(run, BASE)
    assert g["passed"] and not g["cross_machine"] and g["warnings"] == []
    assert len(g["results"]) == 6 and all(r["passed"] for r in g["results"])
    tput = by_gate(g, "A", "throughput")
    assert tput["value"] == 950.0 and tput["baseline"] == 1000.0
    assert tput["delta"] == pytest.approx(-0.05)


@pytest.mark.parametrize(
    ("run_a", "failing"),
    [
        (workload(890.0, 10.0), "throughput"),
        (workload(1000.0, 12.5), "p99"),
        (workload(1000.0, 10.0, 0.002), "error_rate"),
    ],
)
def test_each_gate_fails_on_its_own(run_a: dict[str, Any], failing: str) -> None:
    g = compare(results({"A": run_a, "C": workload(2000.0, 5.0)}), BASE)
    assert not g["passed"]
    failed = [(r["workload"], r["gate"]) for r in g["results"] if not r["passed"]]
    assert failed == [("A", failing)]


def test_thresholds_are_configurable() -> None:
    run = results({"A": workload(850.0, 13.0), "C": workload(2000.0, 5.0)})
    assert not compare(run, BASE)["passed"]
    assert compare(run, BASE, Gates(throughput_drop=0.2, p99_rise=0.35))["passed"]
    with pytest.raises(ValueError):
        Gates(throughput_drop=-1)


def test_another_machine_is_flagged_but_still_compared() -> None:
    other = {**MACHINE, "cores": 8, "cpu_model": "Intel Xeon"}
    run = results({"A": workload(1000.0, 10.0), "C": workload(2000.0, 5.0)}, machine=other)
    g = compare(run, BASE)
    assert g["passed"] and g["cross_machine"]
    assert any("different machine" in w for w in g["warnings"])
    assert {d.split(":")[0] for d in g["machine_differences"]} == {"cores", "cpu_model"}


def test_a_workload_the_run_skipped_is_reported_not_failed() -> None:
    g = compare(results({"A": workload(1000.0, 10.0), "W": workload(5.0, 1.0)}), BASE)
    assert g["passed"] and g["missing"] == ["C"] and g["not_in_baseline"] == ["W"]
    nothing = compare(results({"W": workload(5.0, 1.0)}), BASE)
    assert any("share no workload" in w for w in nothing["warnings"])
