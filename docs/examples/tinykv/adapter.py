"""The lab's adapter for tinykv (``tinykv.py`` beside this file): a `lab.db.base.DB`.

Load it with ``aspen-lab chaos --db docs/examples/tinykv/adapter.py:TinyKV`` or through
``tinykv.toml``. It is the whole of what the lab needs to know about tinykv: the command that
starts one node, how to tell it is up, who leads, and a client that turns each outcome into
``ok`` (it happened), ``fail`` (it surely did not) or ``info`` (unknown: it may have).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

from aspen.client.outcome import SendWatch, send_tracing, was_sent
from lab.context import RunContext
from lab.db.base import NodeStatus
from lab.runtime.base import NodeCommand
from lab.workloads.base import Completion, Invocation
from lab.workloads.set import SET_KEY

SERVER = Path(__file__).with_name("tinykv.py")


class TinyKVClient:
    def __init__(self, address: str, timeout: float) -> None:
        self.base = f"http://{address}"
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout), trace_configs=[send_tracing()]
        )

    async def invoke(self, inv: Invocation) -> Completion:
        # aiohttp resends a PUT once when its connection broke, and a refused resend looks
        # like a request that never left: the watch knows whether any attempt was sent.
        watch = SendWatch()
        try:
            return await self._invoke(inv, watch)
        except (TimeoutError, aiohttp.ClientError) as e:
            if inv.f == "read" or not was_sent(e, watch):  # surely not applied
                return Completion("fail", error=f"{type(e).__name__}: {e}")
            return Completion("info", error=type(e).__name__)  # it may have been applied

    async def _invoke(self, inv: Invocation, watch: SendWatch) -> Completion:
        key = inv.key or ""
        if inv.f == "read" and key == SET_KEY:
            url = f"{self.base}/keys/{SET_KEY}/"
            async with self.session.get(url, trace_request_ctx=watch) as r:
                keys = await r.json()
            return Completion("ok", sorted(int(k.rsplit("/", 1)[1]) for k in keys))
        if inv.f == "read":
            async with self.session.get(f"{self.base}/kv/{key}", trace_request_ctx=watch) as r:
                value = (await r.json())["value"]
            return Completion("ok", None if value is None else int(value))
        if inv.f in ("write", "add"):
            url = f"{self.base}/kv/{key if inv.f == 'write' else f'{SET_KEY}/{inv.value}'}"
            body = str(inv.value) if inv.f == "write" else "1"
            async with self.session.put(url, data=body, trace_request_ctx=watch) as r:
                ok = r.status == 200
            return Completion("ok") if ok else Completion("info", error=f"http {r.status}")
        if inv.f == "cas":
            expected, new = inv.value
            cas = {"expected": None if expected is None else str(expected), "new": str(new)}
            url = f"{self.base}/cas/{key}"
            async with self.session.post(url, json=cas, trace_request_ctx=watch) as r:
                status = r.status
            if status == 409:
                return Completion.compare_failed()  # it ran: an observation, not a fail
            return Completion("ok") if status == 200 else Completion("info", error=str(status))
        raise ValueError(f"tinykv's client cannot perform {inv.f!r}")

    async def close(self) -> None:
        await self.session.close()


class TinyKV:
    """tinykv under the lab: one node, local processes, no membership and no peers."""

    name = "tinykv"
    peer_links = "direct"
    runtimes: tuple[str, ...] = ("local",)
    unsupported_faults: Mapping[str, str] = {
        "membership": "tinykv has one node and no membership changes",
    }

    def __init__(self, python: str = sys.executable, setup_timeout: float = 10.0) -> None:
        self.python = python
        self.setup_timeout = setup_timeout

    def start_node(
        self, ctx: RunContext, node_id: int, env: Mapping[str, str] | None = None
    ) -> None:
        http = ctx.runtime.endpoint(node_id, "http")
        argv = [self.python, str(SERVER), "--host", http.bind, "--port", str(http.port),
                "--data-dir", ctx.runtime.data_dir(node_id)]  # fmt: skip
        if ctx.node_options.fsync == "never":
            argv.append("--no-sync")
        ctx.runtime.start(node_id, NodeCommand(argv, dict(env or {})))

    async def setup(self, ctx: RunContext) -> None:
        if len(ctx.nodes) != 1:
            raise ValueError("tinykv runs one node (--nodes 1)")
        self.start_node(ctx, ctx.nodes[0])
        deadline = asyncio.get_running_loop().time() + self.setup_timeout
        while await self.status(ctx, ctx.nodes[0]) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("tinykv did not start serving in time")
            await asyncio.sleep(0.1)

    async def status(self, ctx: RunContext, node_id: int) -> NodeStatus | None:
        address = ctx.runtime.endpoint(node_id, "http").address
        try:
            timeout = aiohttp.ClientTimeout(total=1.0)
            async with (
                aiohttp.ClientSession(timeout=timeout) as s,
                s.get(f"http://{address}/status") as r,
            ):
                if r.status != 200:
                    return None
        except (TimeoutError, aiohttp.ClientError):
            return None
        return NodeStatus(node_id, "leader", term=1, leader=node_id, commit=0, applied=0,
                          voters=frozenset({node_id}))  # fmt: skip

    async def leader(self, ctx: RunContext) -> int | None:
        status = await self.status(ctx, ctx.nodes[0])
        return None if status is None else status.leader

    def client(self, ctx: RunContext, node_id: int, *, stale_reads: bool = False) -> TinyKVClient:
        return TinyKVClient(ctx.runtime.endpoint(node_id, "http").address, timeout=2.0)

    async def remove_member(self, ctx: RunContext, node_id: int) -> None:
        raise NotImplementedError("tinykv has no membership")

    async def add_learner(self, ctx: RunContext, node_id: int) -> None:
        raise NotImplementedError("tinykv has no membership")

    async def promote(self, ctx: RunContext, node_ids: Sequence[int]) -> None:
        raise NotImplementedError("tinykv has no membership")

    async def teardown(self, ctx: RunContext) -> None:
        for node in ctx.nodes:
            await asyncio.to_thread(ctx.runtime.stop, node, 3.0)
