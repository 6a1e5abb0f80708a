"""etcd under the lab's chaos: the lab judges a system it did not write, and judges it right.

A 3-node etcd 3.4 (Debian's ``etcd-server``) is cut by nftables in per-node network namespaces.
With linearizable reads the partition scenario must come out valid; with serializable reads
(``--stale-reads``) the node cut off from the majority keeps answering reads from its own,
old state while the majority goes on writing, and the lab must say invalid and name that read.
Both directions matter: a lab that always says valid, or always invalid, fails one of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab._etcd_util import chaos, history, need_etcd_and_namespaces

pytestmark = pytest.mark.integration


def test_partition_with_linearizable_reads_is_valid(tmp_path: Path) -> None:
    need_etcd_and_namespaces()
    run = chaos(tmp_path, "--db", "etcd", "--scenario", "partition", "--duration", "12",
                "--seed", "3")  # fmt: skip
    assert run.code == 0, run.output
    r = run.results
    assert r["db"] == "etcd" and r["valid"] is True
    assert r["verdicts"] == {"linearizable": "valid", "recovery": "valid"}
    assert any(f["fault"].startswith("partition-") for f in r["faults"]), r["faults"]
    skipped = {s["fault"] for s in r["skipped_faults"]}
    assert skipped == {"partition-one-way", "partition-majorities-ring"}  # one-way: refused
    assert "--db etcd" in r["rerun"]
    # Every ok register operation carries the store revision etcd answered with.
    oks = [e for e in history(run.run_dir) if e["type"] == "ok" and e["f"] != "add"]
    assert oks and all(isinstance(e.get("revision"), int) for e in oks), oks[:3]


def test_partition_with_serializable_reads_is_invalid_and_shows_the_stale_read(
    tmp_path: Path,
) -> None:
    need_etcd_and_namespaces()
    # 15 slots (5 per node) on 3 keys: the cut-off node's slots spend most of the window
    # waiting out writes that cannot commit, so it needs several of them to read at all.
    run = chaos(tmp_path, "--db", "etcd", "--scenario", "partition", "--fault",
                "partition-halves", "--stale-reads", "--duration", "12", "--seed", "3",
                "--concurrency", "15", "--keys", "3")  # fmt: skip
    assert run.code == 1, run.output
    r = run.results
    assert r["valid"] is False and r["verdicts"]["linearizable"] == "invalid", r["verdicts"]
    assert "counterexample: linearizable:" in run.output
    assert (run.run_dir / "counterexample.html").exists()

    # The counterexample holds a read served, during the cut, by the node on the minority
    # side. (Which operation the checker names as the culprit depends on the search order: the
    # stale read itself, or a later fresh read that cannot follow it.)
    start = next(e for e in history(run.run_dir, "nemesis") if e["f"] == "start-partition-halves")
    minority = min(start["value"]["partition"].split(" | "), key=len).strip("[]").split()
    events = history(run.run_dir)
    served_by = set()
    for case in r["checkers"]["linearizable"]["invalid"]:
        for op in case["operations"]:
            if op["f"] != "read" or op["unknown"]:
                continue
            invoke = next(
                e for e in events
                if e["type"] == "invoke" and e["process"] == op["process"]
                and e["time"] == op["call"]
            )  # fmt: skip
            served_by.add(invoke["node"])
    assert served_by & {f"n{n}" for n in minority}, (served_by, start["value"])
