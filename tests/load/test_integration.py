"""End to end: ``aspen-lab load`` against a real 3-node Aspen cluster, and EtcdDB against etcd."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import pytest

from lab.cli import main
from lab.context import RunContext
from lab.db.etcd import EtcdDB
from lab.history.op import COMPARE_FAILED
from lab.load import results
from lab.load.engine import Phase, run_phase
from lab.load.targets import EtcdTarget
from lab.load.workloads import WORKLOADS, KeySpace, plan
from lab.recorder import Recorder
from lab.runtime.local import LocalRuntime
from lab.store import read_json
from lab.workloads.base import Invocation
from lab.workloads.set import SET_KEY

pytestmark = pytest.mark.integration


def test_a_short_load_run_against_aspen(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    code = main(
        [
            "load",
            "--workloads", "A,F",
            "--records", "200",
            "--clients", "8",
            "--duration", "1.5",
            "--max-ops", "300",
            "--store", str(tmp_path),
            "--no-progress",
            "--save-baseline", str(baseline),
        ]
    )  # fmt: skip
    assert code == 0
    run_dir = (tmp_path / "load" / "latest").resolve()
    r = read_json(run_dir / "results.json")
    assert results.validate(r) == []
    assert r["load_phase"]["ok"] == 200
    for name in ("A", "F"):
        w = r["workloads"][name]
        assert 0 < w["ops"] <= 300 and w["error_count"] == 0, w["errors"]
        assert w["throughput"] > 0 and w["latency_ms"]["p99"] > 0
    assert r["workloads"]["F"]["by_op"]["rmw"]["ops"] > 0
    assert "<svg" in (run_dir / "report.html").read_text()
    assert results.validate(read_json(baseline)) == []
    assert (run_dir / "aspen" / "nodes").is_dir()  # the nodes' logs stay with the run


@pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd is not installed (etcd-server)")
async def test_etcd_as_a_lab_database(tmp_path: Path) -> None:
    ids = [1, 2, 3]
    runtime = LocalRuntime(tmp_path, [*ids, 4], run_id=f"it-etcd-{uuid.uuid4().hex[:8]}")
    db = EtcdDB()
    ctx = RunContext(
        run_dir=tmp_path,
        run_id=f"it-{uuid.uuid4().hex[:8]}",
        seed=1,
        nodes=ids,
        runtime=runtime,
        recorder=Recorder(tmp_path),
        db=db,
    )
    try:
        await db.setup(ctx)
        leader = await db.leader(ctx)
        assert leader in ids
        status = await db.status(ctx, leader)
        assert status is not None and status.role == "leader" and status.voters == {1, 2, 3}
        client = db.client(ctx, 2)
        try:
            assert (await client.invoke(Invocation("write", "k", 1))).type == "ok"
            assert (await client.invoke(Invocation("read", "k"))).value == 1
            assert (await client.invoke(Invocation("cas", "k", [1, 2]))).type == "ok"
            missed = await client.invoke(Invocation("cas", "k", [1, 3]))
            assert (missed.type, missed.value) == ("ok", COMPARE_FAILED)  # an observation
            assert (await client.invoke(Invocation("cas", "new", [None, 7]))).type == "ok"
            assert (await client.invoke(Invocation("read", "missing"))).value is None
            for e in (3, 1, 2):
                assert (await client.invoke(Invocation("add", None, e))).type == "ok"
            assert (await client.invoke(Invocation("read", SET_KEY))).value == [1, 2, 3]
        finally:
            await client.close()
        space = KeySpace(50)
        target = EtcdTarget(
            [f"http://{db.http(ctx, n)}" for n in ids], space.keys(), space.values(1)
        )
        await target.start()
        try:
            t = await run_phase(
                target,
                plan(WORKLOADS["F"], space, length=200, seed=1),
                Phase("F", "closed", 10.0, 200, 4),
            )
        finally:
            await target.close()
        s = t.summary()
        assert s["ok"] == 200 and s["error_count"] == 0, s["errors"]

        # membership: node 4 joins as a learner, is promoted, then removed
        await db.add_learner(ctx, 4)
        status4 = None
        for _ in range(100):
            status4 = await db.status(ctx, 4)
            if status4 is not None:
                break
            await asyncio.sleep(0.1)
        assert status4 is not None and status4.learners == {4}
        await db.promote(ctx, [4])
        after = await db.status(ctx, 1)
        assert after is not None and after.voters == {1, 2, 3, 4} and not after.learners
        await db.remove_member(ctx, 4)
        final = await db.status(ctx, 1)
        assert final is not None and final.voters == {1, 2, 3}
    finally:
        runtime.close()
        ctx.recorder.close()
