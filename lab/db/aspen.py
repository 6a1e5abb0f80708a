"""Aspen as a lab database: node command lines, cluster formation, status, and clients.

Peer links go through the run's Toxiproxy proxies when the run has them: node ``i`` is started
with ``--peer j=<proxy i->j>@<http of j>`` for every other node, and static peers win over the
addresses replicated in the log, so every Raft message crosses its link's proxy.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from aspen.client import AsyncClient, Outcome, Result
from lab.context import RunContext
from lab.db.base import NodeStatus, agreed_leader
from lab.runtime.base import NodeCommand
from lab.workloads.base import Completion, Invocation
from lab.workloads.set import SET_KEY

SET_PREFIX = f"{SET_KEY}/"
SCAN_PAGE = 1000


def node_argv(runtime_name: str) -> list[str]:
    """How to launch ``aspen-node``: the current interpreter locally, the entry point in images."""
    if runtime_name == "local":
        return [sys.executable, "-m", "aspen.node"]
    return ["aspen-node"]


def _completion(r: Result[Any], value: Any = None) -> Completion:
    """The lab's outcome for a client result. An ok one carries the Raft index the node
    reported as its revision: the entry that committed a write, the index applied when a
    read was served (the client only resends what surely had no effect, so the index is the
    one application there was)."""
    if r.outcome is Outcome.OK:
        return Completion("ok", value, revision=r.index)
    error = r.error or (f"http {r.status}" if r.status else None)
    if r.outcome is Outcome.FAIL:
        return Completion("fail", error=error)
    return Completion("info", error=error)


def _int_or_none(v: str | None) -> int | None:
    return None if v is None else int(v)


class AspenClient:
    """One lab process's connection to one node. Writes follow the leader; stale reads don't."""

    def __init__(self, http: str, *, timeout: float, stale_reads: bool) -> None:
        self.endpoint = f"http://{http}"
        self._client = AsyncClient([self.endpoint], timeout=timeout, max_attempts=3)
        self._consistency = "stale" if stale_reads else "linearizable"

    async def invoke(self, inv: Invocation) -> Completion:
        c = self._client
        if inv.f == "read" and inv.key == SET_KEY:
            return await self._read_set()
        if inv.f == "read":
            r = await c.get(inv.key or "", consistency=self._consistency, endpoint=self._pin())
            return _completion(r, _int_or_none(r.value) if r.outcome is Outcome.OK else None)
        if inv.f == "write":
            return _completion(await c.put(inv.key or "", str(inv.value)))
        if inv.f == "cas":
            expected, new = inv.value
            cas = await c.cas(inv.key or "", None if expected is None else str(expected), str(new))
            if cas.outcome is Outcome.OK and cas.value is not None and not cas.value.ok:
                return Completion.compare_failed(revision=cas.index)
            return _completion(cas)
        if inv.f == "add":
            return _completion(await c.put(f"{SET_PREFIX}{inv.value}", "1"))
        raise ValueError(f"Aspen's lab client cannot perform {inv.f!r}")

    def _pin(self) -> str | None:
        """Stale reads must be served by this very node, not redirected to the leader."""
        return self.endpoint if self._consistency == "stale" else None

    async def _read_set(self) -> Completion:
        """Every element this node holds, page by page, from its local state."""
        elements: list[int] = []
        after = ""
        while True:
            r = await self._client.scan(
                SET_PREFIX,
                limit=SCAN_PAGE,
                consistency="stale",
                endpoint=self.endpoint,
                start_after=after,
            )
            if r.outcome is not Outcome.OK or r.value is None:
                return _completion(r)
            elements.extend(int(k[len(SET_PREFIX) :]) for k, _ in r.value.items)
            if not r.value.truncated or not r.value.items:
                return Completion("ok", sorted(elements))  # pages: no one revision
            after = r.value.items[-1][0]

    async def close(self) -> None:
        await self._client.close()


class AspenDB:
    """Aspen as the lab's system under test. ``setup_timeout`` bounds how long the nodes may
    take to serve and form a cluster: 60 s, because three Python processes importing their
    stack on a loaded 2-core machine (CI running other clusters beside) took over 30."""

    name = "aspen"
    peer_links = "proxied"
    runtimes: tuple[str, ...] = ("local", "docker", "swarm")
    unsupported_faults: Mapping[str, str] = {}

    def __init__(
        self,
        *,
        tick_ms: int = 20,
        heartbeat_ms: int = 60,
        election_ms: int = 600,
        setup_timeout: float = 60.0,
    ) -> None:
        self.tick_ms = tick_ms
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.setup_timeout = setup_timeout
        self._env: dict[int, Mapping[str, str]] = {}

    # --- addresses ----------------------------------------------------------------------------

    def _raft(self, ctx: RunContext, node: int) -> str:
        return ctx.runtime.endpoint(node, "raft").address

    def http(self, ctx: RunContext, node: int) -> str:
        return ctx.runtime.endpoint(node, "http").address

    def _peer_raft(self, ctx: RunContext, src: int, dst: int) -> str:
        if ctx.net is not None:
            return ctx.net.peer_address(src, dst)
        return self._raft(ctx, dst)

    def command(self, ctx: RunContext, node: int) -> NodeCommand:
        raft = ctx.runtime.endpoint(node, "raft")
        http = ctx.runtime.endpoint(node, "http")
        argv = [
            *node_argv(ctx.runtime.name),
            "--node-id", str(node),
            "--data-dir", ctx.runtime.data_dir(node),
            "--raft-addr", raft.bind_address,
            "--http-addr", http.bind_address,
            "--advertise-raft", raft.address,
            "--advertise-http", http.address,
            "--cluster-id", ctx.run_id[:64],
            "--tick-ms", str(self.tick_ms),
            "--heartbeat-ms", str(self.heartbeat_ms),
            "--election-ms", str(self.election_ms),
            "--fsync", ctx.node_options.fsync,
            "--snapshot-threshold", "2000",
            "--log-level", "INFO",
        ]  # fmt: skip
        for peer in ctx.nodes:
            if peer != node:
                argv += [
                    "--peer",
                    f"{peer}={self._peer_raft(ctx, node, peer)}@{self.http(ctx, peer)}",
                ]
        argv += list(ctx.node_options.extra_args)
        return NodeCommand(argv=argv, env={"PYTHONUNBUFFERED": "1"})

    # --- lifecycle ----------------------------------------------------------------------------

    def start_node(
        self, ctx: RunContext, node_id: int, env: Mapping[str, str] | None = None
    ) -> None:
        cmd = self.command(ctx, node_id)
        ctx.runtime.start(node_id, NodeCommand(cmd.argv, {**cmd.env, **(env or {})}))

    async def setup(self, ctx: RunContext) -> None:
        if ctx.net is not None:
            await asyncio.to_thread(ctx.net.setup, lambda j: self._raft(ctx, j))
        for node in ctx.nodes:
            self.start_node(ctx, node)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.setup_timeout
        async with AsyncClient([f"http://{self.http(ctx, n)}" for n in ctx.nodes]) as c:
            for node in ctx.nodes:
                while (
                    await c.request("GET", "/node-info", endpoint=self._url(ctx, node))
                ).outcome is not Outcome.OK:
                    self._check_alive(ctx, node)
                    if loop.time() > deadline:
                        raise TimeoutError(f"node {node} did not start serving in time")
                    await asyncio.sleep(0.05)
            members = {n: (self._raft(ctx, n), self.http(ctx, n)) for n in ctx.nodes}
            r = await c.init(members, endpoint=self._url(ctx, ctx.nodes[0]))
            if r.outcome is not Outcome.OK:
                raise RuntimeError(f"cluster init failed: {r.error}")
            while True:
                probe = await c.put("\u0001lab-setup-probe", "1")
                if probe.outcome is Outcome.OK:
                    break
                if loop.time() > deadline:
                    raise TimeoutError(f"cluster formed but writes fail: {probe.error}")
                await asyncio.sleep(0.1)
        ctx.log.info("cluster of %d nodes serving", len(ctx.nodes))

    def _check_alive(self, ctx: RunContext, node: int) -> None:
        code = ctx.runtime.exit_code(node)
        if code is not None:
            log = ctx.runtime.log_path(node)
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"node {node} exited with {code} during setup:\n{tail}")

    def _url(self, ctx: RunContext, node: int) -> str:
        return f"http://{self.http(ctx, node)}"

    async def teardown(self, ctx: RunContext) -> None:
        for node in ctx.nodes:
            await asyncio.to_thread(ctx.runtime.stop, node, 5.0)

    # --- views --------------------------------------------------------------------------------

    async def status(self, ctx: RunContext, node_id: int) -> NodeStatus | None:
        async with AsyncClient([self._url(ctx, node_id)], timeout=1.0, max_attempts=1) as c:
            r = await c.request("GET", "/raft-metrics", endpoint=self._url(ctx, node_id))
        if r.outcome is not Outcome.OK or not isinstance(r.body, dict):
            return None
        b = r.body
        return NodeStatus(
            node_id=node_id,
            role=str(b.get("role")),
            term=int(b.get("term", 0)),
            leader=int(b.get("leader", 0)),
            commit=int(b.get("commit", 0)),
            applied=int(b.get("applied", 0)),
            voters=frozenset(b.get("voters", [])),
            learners=frozenset(b.get("learners", [])),
        )

    async def leader(self, ctx: RunContext) -> int | None:
        return agreed_leader(await asyncio.gather(*(self.status(ctx, n) for n in ctx.nodes)))

    def client(self, ctx: RunContext, node_id: int, *, stale_reads: bool = False) -> AspenClient:
        return AspenClient(self.http(ctx, node_id), timeout=2.0, stale_reads=stale_reads)

    # --- membership ---------------------------------------------------------------------------

    async def _voters(self, c: AsyncClient) -> set[int]:
        r = await c.membership()
        if r.outcome is not Outcome.OK or r.value is None:
            raise RuntimeError(f"membership unavailable: {r.error}")
        return {int(v) for v in r.value.get("voters", [])}

    async def remove_member(self, ctx: RunContext, node_id: int) -> None:
        async with AsyncClient([self._url(ctx, n) for n in ctx.nodes]) as c:
            for _attempt in range(20):
                voters = await self._voters(c)
                r = await c.change_membership(sorted(voters - {node_id}))
                if r.outcome is Outcome.OK:
                    return
                await asyncio.sleep(0.25)  # e.g. 409 while a previous change is being left
            raise RuntimeError(f"removing node {node_id} failed: {r.error}")

    async def add_learner(self, ctx: RunContext, node_id: int) -> None:
        async with AsyncClient([self._url(ctx, n) for n in ctx.nodes]) as c:
            r = await c.add_learner(node_id, self._raft(ctx, node_id), self.http(ctx, node_id))
            if r.outcome is not Outcome.OK:
                raise RuntimeError(f"adding node {node_id} as learner failed: {r.error}")

    async def promote(self, ctx: RunContext, node_ids: Sequence[int]) -> None:
        async with AsyncClient([self._url(ctx, n) for n in ctx.nodes]) as c:
            voters = await self._voters(c)
            for _attempt in range(20):
                r = await c.change_membership(sorted(voters | set(node_ids)))
                if r.outcome is Outcome.OK:
                    return
                await asyncio.sleep(0.25)  # the learner may still be catching up
            raise RuntimeError(f"promoting {list(node_ids)} failed: {r.error}")
