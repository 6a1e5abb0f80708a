"""etcd under the Docker runtime: the lab judges a system it did not write, in containers.

A 3-node etcd 3.4 (Debian's ``etcd-server`` in ``aspen-etcd:<hash>``) on the run's network,
its peer links cut by nftables in the node containers (`lab.runtime.nftlinks`). The cluster
forms; a cut holds across a node's restart (its new container loads the rules before etcd
starts) and reaches a paused node; the partition scenario is valid with linearizable reads
and invalid, with the stale read shown, with serializable ones. Nothing labelled with a run
may be left behind.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest

from lab.context import RunContext
from lab.db.etcd import EtcdDB
from lab.recorder import Recorder
from lab.runtime.docker import DockerRuntime
from lab.runtime.etcd_image import ensure_etcd_image
from lab.runtime.nftlinks import TABLE
from lab.workloads.base import Invocation
from tests.docker.test_runtime import BUILD_TIMEOUT, ROOT, leftovers, one_docker_test_at_a_time
from tests.lab._etcd_util import chaos
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.timeout(BUILD_TIMEOUT)]


@pytest.fixture(scope="session")
def etcd_image() -> str:
    with one_docker_test_at_a_time():
        started = time.monotonic()
        tag = ensure_etcd_image(ROOT, log=lambda _line: None)
        print(f"ensure_etcd_image: {tag} in {time.monotonic() - started:.1f} s")
    return tag


async def test_etcd_forms_in_containers_and_a_cut_survives_a_restart(
    tmp_path: Path, etcd_image: str
) -> None:
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    with one_docker_test_at_a_time():
        runtime = DockerRuntime(tmp_path, [1, 2, 3], run_id, image=etcd_image)
        links = runtime.use_nftables_links()
        ctx = RunContext(
            run_dir=tmp_path,
            run_id=run_id,
            seed=1,
            nodes=[1, 2, 3],
            runtime=runtime,
            recorder=Recorder(tmp_path),
            net=links,
        )
        db = EtcdDB()
        ctx.db = db
        try:
            await db.setup(ctx)
            statuses = await asyncio.gather(*(db.status(ctx, n) for n in ctx.nodes))
            assert all(s is not None and s.voters == {1, 2, 3} for s in statuses), statuses
            assert await db.leader(ctx) in ctx.nodes
            assert links.peer_address(1, 2) == f"{runtime.ip(2)}:7000"

            cut = [(3, n) for n in (1, 2)] + [(n, 3) for n in (1, 2)]
            await asyncio.to_thread(links.add_toxic, cut, "cut", "timeout", {"timeout": 0})
            await asyncio.to_thread(runtime.kill, 3)
            await asyncio.to_thread(runtime.restart, 3)  # a new container: rules loaded first
            code, table = await asyncio.to_thread(
                runtime.exec_node, 3, ["nft", "list", "table", "inet", TABLE]
            )
            assert code == 0 and f"ip saddr {runtime.ip(1)} drop" in table, table

            # Node 3 cannot reach its peers (etcd 3.4 does not even serve clients until it
            # has published itself through a quorum); the majority goes on committing.
            reach = f"import socket; socket.create_connection(('{runtime.ip(1)}', 7000), 2)"
            code, out = await asyncio.to_thread(runtime.exec_node, 3, ["python3", "-c", reach])
            assert code != 0 and "timed out" in out, out
            client = db.client(ctx, 1)
            try:
                done = await client.invoke(Invocation("write", "k", 1))
            finally:
                await client.close()
            assert done.type == "ok", done

            # A paused node cannot exec: a helper container loads its rules.
            await asyncio.to_thread(runtime.pause, 2)
            pair = [(1, 2), (2, 1)]
            await asyncio.to_thread(links.add_toxic, pair, "pair", "reset_peer", {"timeout": 0})
            await asyncio.to_thread(runtime.resume, 2)
            code, table = await asyncio.to_thread(
                runtime.exec_node, 2, ["nft", "list", "table", "inet", TABLE]
            )
            assert code == 0 and f"ip saddr {runtime.ip(1)}" in table, table
            await asyncio.to_thread(links.remove_toxic, pair, "pair")

            await asyncio.to_thread(links.heal)

            async def rejoined() -> bool:
                status = await db.status(ctx, 3)
                return status is not None and status.leader in (1, 2)

            await eventually(rejoined, what="node 3 back under the majority's leader")
        finally:
            await db.teardown(ctx)
            runtime.close()
            ctx.recorder.close()
        assert not leftovers(run_id)


def _run_id(run_dir: Path) -> str:
    return str(json.loads((run_dir / "config.json").read_text())["run_id"])


def test_partition_with_linearizable_reads_is_valid(tmp_path: Path, etcd_image: str) -> None:
    with one_docker_test_at_a_time():
        run = chaos(tmp_path, "--db", "etcd", "--runtime", "docker", "--scenario", "partition",
                    "--duration", "8", "--seed", "3")  # fmt: skip
        assert not leftovers(_run_id(run.run_dir))
    assert run.code == 0, run.output
    r = run.results
    assert r["valid"] is True and r["verdicts"]["linearizable"] == "valid", r["verdicts"]
    assert any(f["fault"].startswith("partition-") for f in r["faults"]), r["faults"]
    skipped = {s["fault"] for s in r["skipped_faults"]}
    assert skipped == {"partition-one-way", "partition-majorities-ring"}


def test_partition_with_serializable_reads_is_invalid(tmp_path: Path, etcd_image: str) -> None:
    with one_docker_test_at_a_time():
        run = chaos(tmp_path, "--db", "etcd", "--runtime", "docker", "--scenario", "partition",
                    "--fault", "partition-halves", "--stale-reads", "--duration", "10",
                    "--seed", "3", "--concurrency", "15", "--keys", "3")  # fmt: skip
        assert not leftovers(_run_id(run.run_dir))
    assert run.code == 1, run.output
    r = run.results
    assert r["valid"] is False and r["verdicts"]["linearizable"] == "invalid", r["verdicts"]
    assert "counterexample: linearizable:" in run.output
