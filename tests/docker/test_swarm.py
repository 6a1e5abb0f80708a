"""lab.runtime.swarm: Aspen clusters as Swarm services on a single-node swarm made for the test.

Each test forms a 3-node cluster with ``--swarm-init`` semantics (a swarm is created when the
engine is in none, and left afterwards), injects a fault, and proves through the Docker API that
no service, network, volume or container of its run, and no swarm it created, is left. They take
the lock of the other Docker tests, so they never overlap with them across xdist workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker.client
import pytest

from aspen.client import Outcome
from lab.chaos.network import PartitionNemesis
from lab.context import RunContext
from lab.db.aspen import AspenDB
from lab.gc import gc_docker
from lab.net import attach_network
from lab.recorder import Recorder
from lab.runtime.base import RUN_LABEL, NodeCommand, NodeState
from lab.runtime.docker import NODE_IMAGE_ENV
from lab.runtime.images import ensure_image
from lab.runtime.swarm import SwarmRuntime
from lab.runtime.swarm_mode import INIT_LABEL
from lab.runtime.swarm_options import SwarmOptions
from tests.docker.test_runtime import (
    BUILD_TIMEOUT,
    ROOT,
    Cluster,
    leader_fault,
    leftovers,
    one_docker_test_at_a_time,
)
from tests.integration.cluster import eventually

docker_test = pytest.mark.docker


def swarm_state() -> str:
    client = docker.client.from_env(timeout=60)
    try:
        return str(client.info()["Swarm"]["LocalNodeState"])
    finally:
        client.close()


def services_of(run_id: str) -> list[str]:
    """The run's services, when the engine is a swarm manager (none otherwise)."""
    client = docker.client.from_env(timeout=60)
    try:
        if client.info()["Swarm"]["LocalNodeState"] != "active":
            return []
        found = client.api.services(filters={"label": f"{RUN_LABEL}={run_id}"})
        return [s["Spec"]["Name"] for s in found]
    finally:
        client.close()


@pytest.fixture(scope="session")
def image() -> str:
    """The node image of this tree (built by the first Docker test that needs it), or the one
    ``$ASPEN_NODE_IMAGE`` names (the runtime code is not in the image: no rebuild for it)."""
    if named := os.environ.get(NODE_IMAGE_ENV):
        return named
    with one_docker_test_at_a_time():
        return ensure_image(ROOT, log=lambda _line: None)


@pytest.fixture
def swarm_run_ids() -> Iterator[list[str]]:
    """Run ids a test uses; after it, nothing of theirs is left, nor a swarm the test made."""
    ids: list[str] = []
    with one_docker_test_at_a_time():
        before = swarm_state()
        yield ids
        left = {r: found for r in ids if (found := {**leftovers(r), "services": services_of(r)})}
        left = {r: {k: v for k, v in found.items() if v} for r, found in left.items()}
        after = swarm_state()
    assert not any(left.values()), f"left behind: {left}"
    assert after == before, f"the swarm was {before} before the test, {after} after"


@contextlib.asynccontextmanager
async def swarm_cluster(tmp_path: Path, image: str, run_ids: list[str]) -> AsyncIterator[Cluster]:
    """Three nodes as services, every peer link through the Toxiproxy service, torn down as
    lab.test.run_test does."""
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    run_ids.append(run_id)
    runtime = SwarmRuntime(
        tmp_path, [1, 2, 3], run_id, options=SwarmOptions(init=True), image=image
    )
    ctx = RunContext(
        run_dir=tmp_path,
        run_id=run_id,
        seed=1,
        nodes=[1, 2, 3],
        runtime=runtime,
        recorder=Recorder(tmp_path),
    )
    db = AspenDB()
    ctx.db = db
    try:
        with contextlib.ExitStack() as stack:
            ctx.net = attach_network(stack, runtime, ctx.nodes)
            try:
                await db.setup(ctx)
                yield Cluster(ctx, db, runtime)  # type: ignore[arg-type]
            finally:
                with contextlib.suppress(Exception):
                    await db.teardown(ctx)
                runtime.close()
    finally:
        ctx.recorder.close()


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_a_cluster_forms_as_services(
    tmp_path: Path, image: str, swarm_run_ids: list[str]
) -> None:
    async with swarm_cluster(tmp_path, image, swarm_run_ids) as c:
        rt = c.runtime
        assert isinstance(rt, SwarmRuntime)
        assert rt.name == "swarm" and rt.data_dir(1) == "/data"
        raft, http = rt.endpoint(2, "raft"), rt.endpoint(2, "http")
        assert raft.address == f"{rt.service_name(2)}:7000"
        assert http.host == rt.host(2).addr and http.bind_address == f"0.0.0.0:{http.port}"
        assert [rt.state(n) for n in c.ctx.nodes] == [NodeState.RUNNING] * 3
        assert await c.put_via(c.ctx.nodes, "a", "1") is Outcome.OK
        assert await eventually(lambda: c.stale_get(3, "a")) == "1"
        assert c.ctx.net is not None
        assert c.ctx.net.peer_address(1, 2).startswith(f"{rt.prefix}-toxiproxy:")

        client = docker.client.from_env(timeout=60)
        try:
            spec = client.api.inspect_service(rt.service_name(1))["Spec"]
            node = client.api.inspect_node(client.info()["Swarm"]["NodeID"])
        finally:
            client.close()
        task = spec["TaskTemplate"]
        assert spec["Labels"][RUN_LABEL] == c.ctx.run_id
        assert task["RestartPolicy"]["Condition"] == "none"
        assert task["Placement"]["Constraints"] == [f"node.id=={rt.host(1).node_id}"]
        assert spec["EndpointSpec"]["Mode"] == "dnsrr"
        assert spec["EndpointSpec"]["Ports"][0]["PublishMode"] == "host"
        assert INIT_LABEL in (node["Spec"].get("Labels") or {}) or rt.options.init is False

        samples = [await asyncio.to_thread(rt.sample, 1) for _ in range(2)]
        assert all(s is not None and s.rss_bytes > 10_000_000 and s.threads >= 1 for s in samples)

        await asyncio.to_thread(rt.stop, 3, 5.0)
        assert rt.state(3) is NodeState.STOPPED and rt.exit_code(3) == 0
        assert rt.sample(3) is None
        assert "stopping on signal" in rt.log_path(3).read_text()
        await asyncio.to_thread(rt.wipe, 3)
        await asyncio.to_thread(rt.restart, 3)  # an empty volume: it must rejoin from the log
        assert rt.state(3) is NodeState.RUNNING
        await c.converged()
        assert await eventually(lambda: c.stale_get(3, "a")) == "1"
    for n in (1, 2, 3):
        assert "aspen" in rt.log_path(n).read_text()
    assert (tmp_path / "toxiproxy.log").is_file()


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_a_partition_through_the_toxiproxy_service(
    tmp_path: Path, image: str, swarm_run_ids: list[str]
) -> None:
    async with swarm_cluster(tmp_path, image, swarm_run_ids) as c:
        old = await c.leader()
        nemesis = PartitionNemesis("toxic", kind="isolate-leader", style="blackhole")
        value = await nemesis.start(c.ctx, seed=1)
        (isolated,) = set.intersection(*(set(link) for link in value["links"]))
        assert isolated == old
        majority = [n for n in c.ctx.nodes if n != old]

        async def majority_commits() -> bool:
            return await c.put_via(majority, "k", "majority") is Outcome.OK

        await eventually(majority_commits, what="a write through the majority")
        assert await c.put_through(old, "k", "minority") is not Outcome.OK
        await nemesis.stop(c.ctx)
        await c.converged()
        assert await eventually(lambda: c.stale_get(old, "k")) == "majority"


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_kill_and_pause_of_the_leader_task(
    tmp_path: Path, image: str, swarm_run_ids: list[str]
) -> None:
    async with swarm_cluster(tmp_path, image, swarm_run_ids) as c:
        await leader_fault(c, "kill")  # killed stays dead (restart none) until restarted
        await leader_fault(c, "pause")


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_gc_removes_a_runs_services_and_close_then_leaves_the_swarm(
    tmp_path: Path, image: str, swarm_run_ids: list[str]
) -> None:
    """What a killed run leaves (services, tasks, network, volumes) goes with ``gc --run-id``;
    its swarm stays while its creator lives, and goes with the run's own close."""
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    swarm_run_ids.append(run_id)
    runtime = SwarmRuntime(tmp_path, [1], run_id, options=SwarmOptions(init=True), image=image)
    try:
        runtime.start(1, NodeCommand(["sleep", "300"], {}))
        deadline = time.monotonic() + 60
        while runtime.sample(1) is None:  # its task's container runs
            assert time.monotonic() < deadline, "the task never ran"
            time.sleep(0.1)
        gone = gc_docker(run_id)
        assert gone.services == [runtime.service_name(1)]
        assert runtime.network_name in gone.networks
        assert not gone.swarm_left  # its creator (this process) is alive
        assert services_of(run_id) == []
        deadline = time.monotonic() + 15
        while found := leftovers(run_id):  # Swarm removes a network's copy on a node lazily
            assert time.monotonic() < deadline, f"left behind: {found}"
            time.sleep(0.2)
    finally:
        runtime.close()
