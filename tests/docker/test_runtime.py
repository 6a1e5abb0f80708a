"""lab.runtime.docker and lab.chaos.ip: Aspen clusters in containers, cut at the IP level.

Each Docker test forms a 3-node cluster (its own network, volumes, a Toxiproxy container),
injects a fault, checks that the majority commits and the minority cannot, heals, checks the
cluster converges, and proves through the Docker API that nothing with its run label is left.
The node image is built once per session (a cache hit in under a second when the tree has one;
a few minutes cold); Docker tests run one at a time across xdist workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.client
import docker.errors
import pytest

from aspen.client import AsyncClient, Outcome
from lab.chaos.ip import DisconnectNemesis, FirewallNemesis, NeedsDockerError, ruleset
from lab.chaos.nemesis import Nemesis
from lab.chaos.network import PartitionNemesis
from lab.chaos.scenarios import SCENARIOS
from lab.context import RunContext
from lab.db.aspen import AspenDB
from lab.net import Network
from lab.recorder import Recorder
from lab.runner import wait_recovered
from lab.runtime import images
from lab.runtime.base import RUN_LABEL, NodeState
from lab.runtime.docker import (
    NODE_IMAGE_ENV,
    TOXIPROXY_IMAGE_ENV,
    DockerRuntime,
    container_env,
    proxy_port,
)
from lab.toxiproxy.control import ToxiproxyControl
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 1200  # a cold image build comes first
docker_test = pytest.mark.docker


# --- helpers -----------------------------------------------------------------------------------


@contextmanager
def one_docker_test_at_a_time() -> Iterator[None]:
    """The lock tests/docker/test_images.py takes: Docker tests do not overlap across workers."""
    with (Path(tempfile.gettempdir()) / "aspen-docker-tests.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def leftovers(run_id: str) -> dict[str, list[str]]:
    """Containers, networks and volumes labelled with ``run_id``, by kind (Docker API)."""
    client = docker.client.from_env(timeout=60)
    try:
        filters = {"label": f"{RUN_LABEL}={run_id}"}
        return {
            kind: names
            for kind, names in {
                "containers": [c.name for c in client.containers.list(all=True, filters=filters)],
                "networks": [n.name for n in client.networks.list(filters=filters)],
                "volumes": [v.name for v in client.volumes.list(filters=filters)],
            }.items()
            if names
        }
    finally:
        client.close()


@pytest.fixture(scope="session")
def node_image() -> str:
    with one_docker_test_at_a_time():
        started = time.monotonic()
        tag = images.ensure_image(ROOT, log=lambda _line: None)
        print(f"ensure_image: {tag} in {time.monotonic() - started:.1f} s")
    return tag


@pytest.fixture
def run_ids() -> Iterator[list[str]]:
    """Run ids a test uses; after it, nothing labelled with any of them may exist."""
    ids: list[str] = []
    with one_docker_test_at_a_time():
        yield ids
        left = {run_id: found for run_id in ids if (found := leftovers(run_id))}
    assert not left, f"left behind: {left}"


@dataclass
class Cluster:
    ctx: RunContext
    db: AspenDB
    runtime: DockerRuntime

    def url(self, node: int) -> str:
        return f"http://{self.db.http(self.ctx, node)}"

    async def leader(self) -> int:
        leader: int = await eventually(lambda: self.db.leader(self.ctx), what="a leader")
        return leader

    async def put_via(self, nodes: list[int], key: str, value: str) -> Outcome:
        """A write through ``nodes`` only (following the leader among them)."""
        async with AsyncClient([self.url(n) for n in nodes], timeout=2.0) as c:
            return (await c.put(key, value)).outcome

    async def put_through(self, node: int, key: str, value: str) -> Outcome:
        """One attempt at a write through exactly ``node``'s API (no redirect to a leader)."""
        url = self.url(node)
        async with AsyncClient([url], timeout=2.0, max_attempts=1, follow_leader=False) as c:
            return (await c.put(key, value)).outcome

    async def stale_get(self, node: int, key: str) -> str | None:
        url = self.url(node)
        async with AsyncClient([url], timeout=2.0, max_attempts=1) as c:
            r = await c.get(key, consistency="stale", endpoint=url)
        return r.value if r.outcome is Outcome.OK else None

    async def converged(self) -> None:
        ok, _seconds, statuses = await wait_recovered(self.ctx, timeout=30.0)
        assert ok, f"the cluster did not converge: {statuses}"


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, image: str, run_ids: list[str], toxiproxy_image: str | None = None
) -> AsyncIterator[Cluster]:
    """Three nodes in containers, every peer link through the run's Toxiproxy container,
    torn down as lab.test.run_test does (nodes stopped, runtime closed, then the stack)."""
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    run_ids.append(run_id)
    runtime = DockerRuntime(
        tmp_path, [1, 2, 3], run_id, image=image, toxiproxy_image=toxiproxy_image
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
            place = runtime.provide_toxiproxy(stack)
            ctx.net = Network(
                ToxiproxyControl(place.url),
                ctx.nodes,
                listen=place.listen,
                advertise_host=place.advertise_host,
            )
            stack.callback(ctx.net.close)
            try:
                await db.setup(ctx)
                yield Cluster(ctx, db, runtime)
            finally:
                with contextlib.suppress(Exception):
                    await db.teardown(ctx)
                runtime.close()
    finally:
        ctx.recorder.close()


async def assert_minority_cannot_commit(c: Cluster, nemesis: Nemesis) -> None:
    """Isolate the leader with ``nemesis``: the majority elects another and commits, a write
    through the isolated node does not commit; healed, the cluster converges on one history."""
    old = await c.leader()
    await c.put_via(c.ctx.nodes, "before", "1")
    value = await nemesis.start(c.ctx, seed=1)
    assert value["isolated"] == old, value
    majority = [n for n in c.ctx.nodes if n != old]

    async def majority_commits() -> bool:
        return await c.put_via(majority, "k", "majority") is Outcome.OK

    await eventually(majority_commits, what="a write through the majority")
    assert await c.put_through(old, "k", "minority") is not Outcome.OK
    assert await c.stale_get(majority[0], "k") == "majority"

    await nemesis.stop(c.ctx)
    await c.converged()
    assert await eventually(lambda: c.stale_get(old, "k")) == "majority"
    assert await c.db.leader(c.ctx) in c.ctx.nodes
    assert await nemesis.heal(c.ctx) is None  # nothing left to undo


# --- without Docker ----------------------------------------------------------------------------


def test_proxy_ports_are_distinct_per_directed_link() -> None:
    ports = {proxy_port(s, d) for s in range(1, 10) for d in range(1, 10) if s != d}
    assert len(ports) == 72
    assert proxy_port(1, 2) == 20102 and proxy_port(2, 1) == 20201


def test_a_host_libfaketime_path_becomes_the_images() -> None:
    env = container_env(
        {"LD_PRELOAD": "/home/me/venv/lib/libfaketime/libfaketime.so.1", "FAKETIME": "+30s"}
    )
    assert env == {"LD_PRELOAD": images.FAKETIME_LIB, "FAKETIME": "+30s"}
    assert container_env({"A": "1"}) == {"A": "1"}


def test_partition_ip_refuses_the_local_runtime() -> None:
    from lab.chaos.ip import runtime_problem

    problem = runtime_problem(SCENARIOS["partition-ip"], "local")
    assert problem is not None and "--runtime docker" in problem
    assert runtime_problem(SCENARIOS["partition-ip"], "docker") is None
    assert runtime_problem(SCENARIOS["partition"], "local") is None


async def test_ip_nemeses_say_they_need_docker(tmp_path: Path) -> None:
    from lab.runtime.local import LocalRuntime

    ctx = RunContext(
        run_dir=tmp_path,
        run_id="x",
        seed=1,
        nodes=[1, 2, 3],
        runtime=LocalRuntime(tmp_path, [1, 2, 3], "x"),
        recorder=Recorder(tmp_path),
    )
    try:
        for nemesis in (DisconnectNemesis("d", target="random"), FirewallNemesis("f")):
            with pytest.raises(NeedsDockerError, match="needs --runtime docker"):
                await nemesis.start(ctx, seed=1)
    finally:
        ctx.recorder.close()


def test_chaos_cli_refuses_partition_ip_on_the_local_runtime(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lab.cli import main

    assert main(["chaos", "--scenario", "partition-ip", "--runtime", "local"]) == 2
    assert "needs --runtime docker" in capsys.readouterr().err


# --- with Docker -------------------------------------------------------------------------------


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_a_cluster_forms_in_containers(
    tmp_path: Path, node_image: str, run_ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with cluster(tmp_path, node_image, run_ids) as c:
        rt = c.runtime
        assert rt.name == "docker" and rt.data_dir(1) == "/data"
        assert rt.endpoint(2, "raft").address == f"{rt.ip(2)}:7000"
        assert rt.endpoint(2, "http").bind_address == "0.0.0.0:8000"
        assert [rt.state(n) for n in c.ctx.nodes] == [NodeState.RUNNING] * 3
        assert await c.put_via(c.ctx.nodes, "a", "1") is Outcome.OK
        assert await eventually(lambda: c.stale_get(3, "a")) == "1"
        # Peers go through the proxies: node 1 knows node 2 as the Toxiproxy container's port.
        assert c.ctx.net is not None
        assert c.ctx.net.peer_address(1, 2) == f"{rt.toxiproxy_ip}:{proxy_port(1, 2)}"

        client = docker.client.from_env(timeout=60)
        try:
            info = client.api.inspect_container(rt.container_name(1))
        finally:
            client.close()
        assert info["Config"]["Hostname"] == "n1"
        assert info["Config"]["Labels"][RUN_LABEL] == c.ctx.run_id
        assert info["NetworkSettings"]["Networks"][rt.network_name]["IPAddress"] == rt.ip(1)

        on_host = [await asyncio.to_thread(rt.sample, 1) for _ in range(2)][-1]
        with monkeypatch.context() as m:  # as with a remote engine: no /proc, no mountpoint
            m.setattr(rt._sampler, "_host_process", lambda _node, _info: None)
            by_exec = await asyncio.to_thread(rt.sample, 1)
        for s in (on_host, by_exec):
            assert s is not None
            assert s.rss_bytes > 10_000_000 and s.threads >= 1 and s.open_fds > 5
            assert s.data_bytes > 0 and s.cpu_percent >= 0.0

        await asyncio.to_thread(rt.stop, 3, 5.0)
        assert rt.state(3) is NodeState.STOPPED and rt.exit_code(3) == 0
        assert rt.sample(3) is None
        assert "stopping on signal" in rt.log_path(3).read_text()
        await asyncio.to_thread(rt.wipe, 3)
        await asyncio.to_thread(rt.restart, 3)  # an empty data dir: it must rejoin from the log
    for n in (1, 2, 3):
        assert "aspen" in rt.log_path(n).read_text()


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_partition_by_network_disconnect(
    tmp_path: Path, node_image: str, run_ids: list[str]
) -> None:
    async with cluster(tmp_path, node_image, run_ids) as c:
        await assert_minority_cannot_commit(c, DisconnectNemesis("disconnect", target="leader"))


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_partition_by_toxiproxy(tmp_path: Path, node_image: str, run_ids: list[str]) -> None:
    async with cluster(tmp_path, node_image, run_ids) as c:
        nemesis = PartitionNemesis("toxic", kind="isolate-leader", style="blackhole")

        class Isolating:
            """PartitionNemesis's description, plus the ``isolated`` node the helper checks."""

            name = nemesis.name

            async def start(self, ctx: RunContext, seed: int) -> Any:
                value = await nemesis.start(ctx, seed)
                (isolated,) = set.intersection(*(set(link) for link in value["links"]))
                return {**value, "isolated": isolated}

            async def stop(self, ctx: RunContext) -> Any:
                return await nemesis.stop(ctx)

            async def heal(self, ctx: RunContext) -> Any:
                return await nemesis.heal(ctx)

        await assert_minority_cannot_commit(c, Isolating())


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_partition_by_nftables(tmp_path: Path, node_image: str, run_ids: list[str]) -> None:
    async with cluster(tmp_path, node_image, run_ids) as c:
        await assert_minority_cannot_commit(c, FirewallNemesis("nft", target="leader"))
        # One way, out of the leader: the rest stop hearing it and elect another leader.
        old = await c.leader()
        one_way = FirewallNemesis("nft-out", target="leader", direction="out")
        value = await one_way.start(c.ctx, seed=2)
        assert value["isolated"] == old
        majority = [n for n in c.ctx.nodes if n != old]
        rules = ruleset(c.ctx, c.runtime, old, "out")
        assert f"tcp dport {proxy_port(old, majority[0])}" in rules

        async def majority_commits() -> bool:
            return await c.put_via(majority, "one-way", "1") is Outcome.OK

        await eventually(majority_commits, what="a write through the majority")
        await one_way.stop(c.ctx)
        await c.converged()


async def leader_fault(c: Cluster, fault: str) -> None:
    """``kill`` or ``pause`` the leader: the others elect one of themselves and commit; after a
    restart (or resume) the old leader catches up."""
    old = await c.leader()
    others = [n for n in c.ctx.nodes if n != old]
    if fault == "kill":
        await asyncio.to_thread(c.runtime.kill, old)
        assert c.runtime.state(old) is NodeState.STOPPED
        assert c.runtime.exit_code(old) == 137
        assert "role leader" in c.runtime.log_path(old).read_text()  # its first life
    else:
        await asyncio.to_thread(c.runtime.pause, old)
        assert c.runtime.state(old) is NodeState.PAUSED

    async def new_leader() -> bool:
        return await c.db.leader(c.ctx) in others

    async def majority_commits() -> bool:
        return await c.put_via(others, fault, "1") is Outcome.OK

    await eventually(new_leader, what=f"a new leader after the {fault}")
    await eventually(majority_commits, what=f"a write after the {fault}")
    if fault == "kill":
        await asyncio.to_thread(c.runtime.restart, old)
    else:
        await asyncio.to_thread(c.runtime.resume, old)
    assert c.runtime.state(old) is NodeState.RUNNING
    await c.converged()
    assert await eventually(lambda: c.stale_get(old, fault)) == "1"


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_kill_and_pause_of_the_leader(
    tmp_path: Path, node_image: str, run_ids: list[str]
) -> None:
    async with cluster(tmp_path, node_image, run_ids) as c:
        await leader_fault(c, "kill")
        await leader_fault(c, "pause")


@pytest.fixture
def own_toxiproxy_image(node_image: str) -> Iterator[str]:
    """A stand-in for ghcr.io/shopify/toxiproxy (no registry here): an image whose own
    command serves a Toxiproxy API on 8474."""
    tag = f"aspen-test-toxiproxy:{uuid.uuid4().hex[:8]}"
    dockerfile = (
        f"FROM {node_image}\n"
        'CMD ["aspen-lab", "toxiproxy", "--host", "0.0.0.0", "--port", "8474"]\n'
    )
    client = docker.client.from_env(timeout=300)
    try:
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
        yield tag
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            client.images.remove(tag, force=True)
        client.close()


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_a_toxiproxy_image_runs_with_its_own_command(
    tmp_path: Path,
    node_image: str,
    own_toxiproxy_image: str,
    run_ids: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOXIPROXY_IMAGE_ENV, own_toxiproxy_image)  # as --toxiproxy-image does
    async with cluster(tmp_path, node_image, run_ids) as c:
        assert await c.put_via(c.ctx.nodes, "k", "1") is Outcome.OK
        client = docker.client.from_env(timeout=60)
        try:
            (proxy,) = client.containers.list(
                filters={"label": [f"{RUN_LABEL}={c.ctx.run_id}", "aspen.lab.node=toxiproxy"]}
            )
            assert proxy.attrs["Config"]["Image"] == own_toxiproxy_image
            assert proxy.attrs["Config"]["Cmd"][:2] == ["aspen-lab", "toxiproxy"]
        finally:
            client.close()


# --- end to end --------------------------------------------------------------------------------


def run_shape(run_dir: Path, results: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on the runtime: the files of a run and the keys of its results."""
    files = sorted(
        str(p.relative_to(run_dir))
        for p in run_dir.rglob("*")
        if p.is_file() and p.suffix in (".json", ".jsonl", ".log", ".html")
    )
    return {"files": files, "results": sorted(results), "ops": sorted(results["ops"])}


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_the_partition_scenario_end_to_end(
    tmp_path: Path, node_image: str, run_ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lab.report.html import write_run_report
    from lab.test import LabTest, run_test

    monkeypatch.setenv(NODE_IMAGE_ENV, node_image)  # no rebuild if colleagues edit the tree
    shapes = {}
    for runtime in ("docker", "local"):
        test = LabTest(
            scenario="partition",
            runtime=runtime,
            duration=10,
            seed=7,
            concurrency=4,
            store=tmp_path / runtime,
        )
        run_dir, results = run_test(test)
        write_run_report(run_dir)
        assert results["valid"], json.dumps(results, indent=1)[:4000]
        assert results["ops"]["total"]["ok"] > 50
        shapes[runtime] = run_shape(run_dir, results)
        if runtime == "docker":
            config = json.loads((run_dir / "config.json").read_text())
            run_ids.append(config["run_id"])
            rows = [json.loads(s) for s in (run_dir / "resources.jsonl").read_text().splitlines()]
            up = [r for r in rows if r["up"]]
            assert up and all(r["rss_bytes"] > 0 and r["threads"] > 0 for r in up)
            assert "start-partition" in (run_dir / "nemesis.jsonl").read_text()
            assert (run_dir / "toxiproxy.log").is_file()
    docker_files, local_files = (
        set(shapes["docker"].pop("files")),
        set(shapes["local"].pop("files")),
    )
    assert docker_files - local_files == {"toxiproxy.log"}, docker_files ^ local_files
    assert local_files <= docker_files, docker_files ^ local_files
    assert shapes["docker"] == shapes["local"]
