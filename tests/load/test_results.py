"""results.json: its shape, the machine it records, baselines, and the HTML report."""

from __future__ import annotations

from pathlib import Path

from lab.load import results
from lab.load.engine import Phase, Tally
from lab.load.gates import compare
from lab.load.report import render
from tests.load.crafted import MACHINE, workload
from tests.load.crafted import results as crafted


def test_machine_records_cores_cpu_and_python(tmp_path: Path) -> None:
    m = results.machine()
    assert m["cores"] >= 1 and m["cpu_model"] and m["python"].startswith("3.")
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Test CPU 9000\n")
    assert results.cpu_model(info) == "Test CPU 9000"
    assert results.cpu_model(tmp_path / "missing")  # falls back to something


def test_a_new_results_document_has_the_expected_shape() -> None:
    r = results.new_results({"mode": "closed"}, {"db": "aspen", "nodes": 3})
    r["workloads"]["A"] = {"workload": "A", **Tally(Phase("A", "closed", 1, 1, 1)).summary()}
    assert results.validate(results.finish(r)) == []
    assert r["machine"]["loadavg_end"] is not None
    lat = r["workloads"]["A"]["latency_ms"]
    assert set(lat) >= {"p50", "p95", "p99", "p99.9", "max"}


def test_validate_names_what_is_missing() -> None:
    bad = crafted({"A": workload(1.0, 1.0)})
    del bad["workloads"]["A"]["latency_ms"]["p99.9"]
    del bad["machine"]["cpu_model"]
    problems = results.validate(bad)
    assert any("p99.9" in p for p in problems) and any("machine" in p for p in problems)
    assert results.validate([]) == ["not a JSON object"]


def test_a_baseline_drops_timelines_and_still_validates() -> None:
    base = results.as_baseline(crafted({"A": workload(1.0, 1.0)}))
    assert "timeline" not in base["workloads"]["A"]
    assert results.validate(base) == []


def test_report_shows_numbers_gates_and_the_cross_machine_warning() -> None:
    base = crafted({"A": workload(1000.0, 10.0)}, machine={**MACHINE, "cores": 64})
    run = crafted({"A": workload(800.0, 10.0)})
    run["gates"] = compare(run, base)
    run["workloads"]["A"]["ramp"] = {
        "p99_bound_ms": 50,
        "max_error_rate": 0.01,
        "step_duration_s": 1,
        "steps": [
            {"rate": 100, "throughput": 99.0, "latency_ms": {"p50": 1, "p99": 5},
             "error_rate": 0.0, "passed": True, "interrupted": False},
            {"rate": 200, "throughput": 150.0, "latency_ms": {"p50": 40, "p99": 90},
             "error_rate": 0.0, "passed": False, "interrupted": False},
        ],
        "knee_rate": 100,
        "knee_throughput": 99.0,
    }  # fmt: skip
    html = render(run)
    assert "FAIL" in html and "different machine" in html
    assert "p99.9" in html and "800.0" in html and "-20.0%" in html
    assert "Knee" in html and "<svg" in html
    assert "<script src" not in html  # self-contained: only the inline headless-check scripts
