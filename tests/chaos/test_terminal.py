"""What the chaos command prints while and after a run: the status line and the summary."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lab.chaos.cli import _summary_line, no_fault_warning, status_line
from lab.chaos.schedule import FaultWindow, Timing, build_schedule, room_for_a_fault
from lab.runner import RunStatus, fault_at

WINDOWS = [FaultWindow(2.0, 6.0, "partition", 1), FaultWindow(8.0, 12.0, "leader-crash", 2)]


def test_the_fault_open_at_a_time() -> None:
    assert fault_at(WINDOWS, 1.9) == ""
    assert fault_at(WINDOWS, 2.0) == "partition"
    assert fault_at(WINDOWS, 5.99) == "partition"
    assert fault_at(WINDOWS, 6.0) == ""
    assert fault_at(WINDOWS, 11.0) == "leader-crash"
    assert fault_at([], 3.0) == ""


def test_the_status_line_says_phase_progress_rate_and_fault() -> None:
    assert status_line(RunStatus("setup"), 20) == "setup"
    line = status_line(RunStatus("workload", 12.2, 1430, "partition"), 20)
    assert line == "workload 12/20 s · 1,430 ok (117/s) · fault partition"
    assert status_line(RunStatus("workload", 0.4, 3), 20) == "workload 0/20 s · 3 ok"
    assert status_line(RunStatus("checking", ok=2000), 20) == "checking · 2,000 ok"


def _results(recovery: float | None) -> dict[str, Any]:
    return {
        "verdicts": {"linearizable": "valid"},
        "ops": {"total": {"ok": 10, "compare_failed": 0, "fail": 0, "info": 0}},
        "throughput": {"ok_per_s": 5.0},
        "recovery_seconds": recovery,
        "wall_seconds": 30.0,
        "valid": True,
        "config": {},
    }


def test_the_summary_gives_a_short_recovery_in_ms_as_the_report_does() -> None:
    assert "recovery 4.81ms " in _summary_line("partition", Path("d"), _results(0.00481))
    assert "recovery 2.50s " in _summary_line("partition", Path("d"), _results(2.5))
    assert "recovery n/a " in _summary_line("partition", Path("d"), _results(None))


def test_a_run_as_long_as_room_for_a_fault_always_injects_one() -> None:
    timing = Timing()
    need = room_for_a_fault(timing)
    assert all(build_schedule(seed, need, ["partition"], timing) for seed in range(200))
    short = [build_schedule(seed, 8.0, ["partition"], timing) for seed in range(200)]
    assert any(not s for s in short)  # 8 s: often no window at all


def _test(duration: float, planned: list[str]) -> Any:
    return SimpleNamespace(
        duration=duration,
        fault_plan=lambda: SimpleNamespace(run=planned),
        the_scenario=SimpleNamespace(timing=Timing()),
    )


def test_a_run_that_planned_faults_but_injected_none_says_so() -> None:
    warning = no_fault_warning(_test(8, ["partition"]), {"faults": [], "interrupted": None})
    assert warning is not None and "no fault was injected" in warning
    assert f"--duration {room_for_a_fault(Timing()):g}" in warning
    injected = {"faults": [{"fault": "partition"}], "interrupted": None}
    assert no_fault_warning(_test(20, ["partition"]), injected) is None
    assert no_fault_warning(_test(8, []), {"faults": []}) is None  # nothing was planned
    assert (
        no_fault_warning(_test(8, ["partition"]), {"faults": [], "interrupted": "SIGINT"}) is None
    )
    # Long enough for a fault: none means the run failed (a node never served), not "too short".
    assert no_fault_warning(_test(120, ["partition"]), {"faults": [], "interrupted": None}) is None
