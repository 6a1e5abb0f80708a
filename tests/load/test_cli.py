"""``aspen-lab load``'s argument checks, and its stop on SIGTERM or a double Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli import main
from lab.store import read_json
from tests.lab.signalled import EXIT_CODES, lab_processes, signal_lab_command


@pytest.mark.parametrize(
    "args",
    [
        ["--workloads", "A,Q"],
        ["--mode", "ramp", "--ramp", "100:50"],
        ["--records", "0"],
        ["--baseline", "/nonexistent/baseline.json"],
    ],
)
def test_bad_arguments_exit_2_before_starting_anything(args: list[str], tmp_path: Path) -> None:
    assert main(["load", "--store", str(tmp_path), *args]) == 2
    assert not (tmp_path / "load").exists()


def test_a_baseline_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1, "workloads": {}}')
    assert main(["load", "--store", str(tmp_path), "--baseline", str(bad)]) == 2


@pytest.mark.integration
@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT", "SIGINT")])
def test_a_signalled_load_run_stops_its_nodes_and_writes_its_report(
    tmp_path: Path, signals: tuple[str, ...]
) -> None:
    store = tmp_path / "store"
    args = ["load", "--workloads", "A", "--records", "200", "--clients", "4",
            "--duration", "120", "--no-progress", "--store", str(store)]  # fmt: skip

    def loading() -> bool:  # the load phase is written once done: a workload is running
        found = next(store.glob("load/2*/results.json"), None)
        return found is not None and read_json(found).get("load_phase") is not None

    ended = signal_lab_command(args, signals, loading, cwd=tmp_path)
    assert ended.returncode == EXIT_CODES[signals[0]], ended.output
    assert lab_processes(str(store)) == [], "nodes left running"
    run_dir = next(store.glob("load/2*"))
    res = read_json(run_dir / "results.json")
    assert res["interrupted"] == signals[0] and "error" not in res
    html = (run_dir / "report.html").read_text()
    assert 'data-status="interrupted"' in html and f"Stopped early by {signals[0]}" in html
