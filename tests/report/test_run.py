from __future__ import annotations

from pathlib import Path

import pytest

from lab.report.run import load_run
from lab.stats import histogram, latency_summary
from tests.report.conftest import INVALID, RUNS, VALID, results_of
from tests.report.synth import make_run


@pytest.mark.parametrize("name", [VALID, INVALID])
def test_operations_agree_with_results_json(name: str) -> None:
    """The plots' data and the verdict's numbers come from the same pairing and histogram."""
    run = load_run(RUNS / name)
    results = results_of(RUNS / name)
    counts = run.ops.groupby(["f", "type"]).size()
    for f, by_type in results["ops"]["by_f"].items():
        for outcome, n in by_type.items():
            assert counts.get((f, outcome), 0) == n, (f, outcome)
    for kind in ("ok", "all"):
        sel = run.ops if kind == "all" else run.ops[run.ops["type"] == "ok"]
        ns = (sel["latency_ms"] * 1e6).round().astype("int64").tolist()
        summary = latency_summary(histogram(ns))
        for q in ("p50", "p99", "max"):
            assert summary[q] == results["latency_ms"][kind][q], (kind, q)


@pytest.mark.parametrize("name", [VALID, INVALID])
def test_time_zero_is_the_workload_start(name: str) -> None:
    run = load_run(RUNS / name)
    # The runner starts sampling resources and the workers together: whichever came first.
    assert 0.0 <= run.ops["start"].min() < 0.01
    assert run.resources["time"].min() >= 0.0
    (window,) = run.windows
    (planned,) = results_of(RUNS / name)["faults"]
    assert window.fault == planned["fault"]
    # The nemesis records a fault once it is in place: just after its scheduled time.
    assert planned["start"] <= window.start < planned["start"] + 0.2
    assert window.end is not None and planned["end"] <= window.end < planned["end"] + 0.2
    assert window.detail in ("[1 2] | [3]", "[1] | [2 3]")
    duration = results_of(RUNS / name)["duration"]
    assert run.workload_seconds == duration
    assert run.span > duration, "recovery and final reads come after the workload"


def test_unclosed_faults_run_to_the_end_and_stray_stops_are_ignored(tmp_path: Path) -> None:
    run_dir = make_run(
        tmp_path / "run", faults=(("kill", 1.0, 2.0), ("kill", 4.0, None), ("pause", 3.0, 3.5))
    )
    with (run_dir / "nemesis.jsonl").open("a") as fh:  # a heal with nothing to heal
        fh.write('{"time": 9000000000, "process": "nemesis", "type": "info", "f": "stop-clock"}\n')
    run = load_run(run_dir)
    assert [(w.fault, w.start, w.end) for w in run.windows] == [
        ("kill", 1.0, 2.0),
        ("pause", 3.0, 3.5),
        ("kill", 4.0, None),
    ]


def test_fault_windows_fall_back_to_history_then_results(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "run")
    (run_dir / "nemesis.jsonl").unlink()
    assert [w.fault for w in load_run(run_dir).windows] == ["partition-halves"]
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    (run_dir / "history.jsonl").write_text(
        "\n".join(line for line in lines if "nemesis" not in line) + "\n"
    )
    run = load_run(run_dir)
    assert [(w.fault, w.start, w.end) for w in run.windows] == [("partition-halves", 2.0, 5.0)]


def test_down_nodes_are_kept_as_down_samples(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "run", down=("n2", 3.0, 5.0)))
    n2 = run.resources[run.resources["node"] == "n2"]
    down = n2[~n2["up"]]
    assert down["time"].tolist() == [3.0, 4.0]
    assert down["cpu_percent"].isna().all()


def test_damaged_lines_are_skipped_and_noted(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "run", ops=50)
    with (run_dir / "history.jsonl").open("a") as fh:
        fh.write('{"index": 999, "time": 1, "process": 0, "ty')  # torn by a crash
    with (run_dir / "resources.jsonl").open("a") as fh:
        fh.write("not json\n")
    run = load_run(run_dir)
    assert len(run.ops) == 50
    assert run.notes == [
        "history.jsonl: 1 unreadable line(s) skipped",
        "resources.jsonl: 1 unreadable line(s) skipped",
    ]


def test_open_invokes_are_not_operations(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "run", ops=10)
    with (run_dir / "history.jsonl").open("a") as fh:
        fh.write('{"time": 99, "process": 77, "type": "invoke", "f": "read"}\n')
    assert len(load_run(run_dir).ops) == 10
