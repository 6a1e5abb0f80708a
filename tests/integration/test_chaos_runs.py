"""The lab against real Aspen processes: safe modes pass, unsafe modes are caught.

A lab that always says "valid" is worthless, so each unsafe mode of the node is run through
the same scenario as its safe counterpart and must fail the verdict it threatens.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.context import NodeOptions
from lab.history import read_history
from lab.test import LabTest, run_test

pytestmark = pytest.mark.integration


def run(tmp_path: Path, **kw: object) -> tuple[Path, dict]:  # type: ignore[type-arg]
    test = LabTest(store=tmp_path, concurrency=4, **kw)  # type: ignore[arg-type]
    return run_test(test)


def test_partitions_keep_the_register_linearizable(tmp_path: Path) -> None:
    run_dir, results = run(tmp_path, scenario="partition", seed=11, duration=12)
    assert results["verdicts"] == {"linearizable": "valid", "recovery": "valid"}, results
    assert results["valid"]
    assert results["ops"]["total"]["ok"] > 100
    for name in ("history.jsonl", "nemesis.jsonl", "config.json", "results.json", "lab.log"):
        assert (run_dir / name).is_file(), name
    assert sorted(p.name for p in (run_dir / "nodes").glob("*.log")) == [
        "n1.log",
        "n2.log",
        "n3.log",
    ]
    assert "start-partition" in (run_dir / "nemesis.jsonl").read_text()
    # Aspen reports the Raft index of every ok operation: the checker orders by it.
    ops = read_history(run_dir / "history.jsonl").operations()
    known = [op for op in ops if op.ret is not None and op.f in ("read", "write", "cas")]
    assert known and all(op.revision is not None for op in known)
    assert any(op.f == "read" for op in known)


def test_stale_reads_across_an_isolated_leader_are_caught(tmp_path: Path) -> None:
    _, results = run(
        tmp_path,
        scenario="partition",
        faults=("partition-isolate-leader",),
        seed=5,
        duration=14,
        node_options=NodeOptions(stale_reads=True),
    )
    assert results["verdicts"]["linearizable"] == "invalid", results["verdicts"]
    assert not results["valid"]
    invalid = results["checkers"]["linearizable"]["invalid"]
    assert invalid and invalid[0]["message"]


def test_kill_all_keeps_every_acknowledged_add(tmp_path: Path) -> None:
    _, results = run(tmp_path, scenario="kill-all", seed=3, duration=10)
    assert results["verdicts"] == {"set": "valid", "recovery": "valid"}, results
    assert results["ops"]["by_f"]["add"]["ok"] > 50


def test_kill_all_without_fsync_loses_acknowledged_adds(tmp_path: Path) -> None:
    _, results = run(
        tmp_path,
        scenario="kill-all",
        seed=3,
        duration=10,
        node_options=NodeOptions(fsync="never"),
        recovery_timeout=5,  # nodes that lost their logs may never converge: not what we test
    )
    assert results["verdicts"]["set"] == "invalid", results["verdicts"]
    lost = [
        e
        for node in results["checkers"]["set"]["per_node"].values()
        for inv in node.get("invalid", [])
        for e in inv["lost"]
    ]
    assert lost
