"""A full data file never kills a node (issue #13, item 4).

A real 3-node cluster with a 16 MiB LMDB map is filled by eight concurrent writers of 0.1-1 MB
values until the leader refuses them. Every node must stay up; the refusals must be 507 with a
JSON body (never another 5xx, never a crash); DELETE must still work and free space, so that
writes succeed again; ``/trigger-snapshot`` must work; a node restarted at the same map size
must come back and serve.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lab.context import NodeOptions, RunContext
from lab.db.aspen import AspenDB
from lab.runtime.base import NodeState
from tests.integration.cluster import cluster, leader_of
from tests.waiting import eventually

pytestmark = pytest.mark.integration

MAP = "16MiB"
WRITERS = 8


TRANSIENT = (421, 503, 504)
"""Not leader / no leader / outcome unknown: what a leader change answers. On two shared cores a
leader may lose its quorum's heartbeats under this load; each such answer must coincide with a
leader change (a higher term), and the write is retried at the new leader."""


async def _metrics(session: aiohttp.ClientSession, url: str) -> dict[str, object]:
    async with session.get(f"{url}/raft-metrics") as r:
        body: dict[str, object] = await r.json()
        return body


class Writes:
    """Writes to whichever node leads, counting every status; transient ones are retried."""

    def __init__(self, http: aiohttp.ClientSession, ctx: RunContext, db: AspenDB) -> None:
        self.http, self.ctx, self.db = http, ctx, db
        self.statuses: Counter[int] = Counter()
        self.leader = 0

    async def url(self) -> str:
        if not self.leader:
            self.leader = await leader_of(self.ctx, self.db)
        return f"http://{self.db.http(self.ctx, self.leader)}"

    async def term(self) -> int:
        return int((await _metrics(self.http, await self.url()))["term"])  # type: ignore[call-overload]

    async def send(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        for _ in range(20):
            async with self.http.request(method, f"{await self.url()}{path}", json=body) as r:
                self.statuses[r.status] += 1
                answer = await r.json()
                if r.status not in TRANSIENT:
                    assert r.status < 500 or r.status == 507, (r.status, answer)
                    return r.status, answer
            self.leader = 0
        raise AssertionError(f"{method} {path}: no leader would take it")


async def test_a_full_map_refuses_writes_with_507_and_no_node_dies(tmp_path: Path) -> None:
    options = NodeOptions(extra_args=("--map-size", MAP))
    async with cluster(tmp_path, options=options) as (ctx, db):
        urls = {n: f"http://{db.http(ctx, n)}" for n in ctx.nodes}
        written: list[str] = []
        rss_before = {n: s.rss_bytes for n in ctx.nodes if (s := ctx.runtime.sample(n))}
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            writes = Writes(http, ctx, db)
            statuses = writes.statuses
            first_term = await writes.term()

            async def writer(w: int) -> None:
                rng = random.Random(w)
                refused = 0
                for i in range(60):
                    key = f"big-{w}-{i}"
                    written.append(key)  # to delete later, whatever the outcome
                    value = "x" * rng.randrange(100_000, 1_000_000)
                    status, body = await writes.send("PUT", f"/kv/{key}", {"value": value})
                    if status == 507:
                        assert body["code"] == "storage_full", body
                        refused += 1
                        if refused >= 3:
                            return
                    else:
                        assert status == 200, (status, body)

            await asyncio.gather(*(writer(w) for w in range(WRITERS)))
            assert statuses[507] > 0 and statuses[200] > 0, statuses
            for n in ctx.nodes:
                assert ctx.runtime.state(n) is NodeState.RUNNING, f"node {n} died"
            full = {n: await _metrics(http, urls[n]) for n in ctx.nodes}

            # A full map still deletes: that is how space comes back.
            for key in written:
                status, body = await writes.send("DELETE", f"/kv/{key}")
                assert status == 200, (key, status, body)
            for n in ctx.nodes:
                async with http.post(f"{urls[n]}/trigger-snapshot") as r:
                    assert r.status == 200, (n, r.status, await r.text())

            async def writes_again() -> bool:
                status, _ = await writes.send("PUT", "/kv/after", {"value": "y" * 500_000})
                return status == 200

            await eventually(writes_again, what="a write succeeding after the deletes")
            leader = writes.leader or await leader_of(ctx, db)
            emptied = {n: await _metrics(http, urls[n]) for n in ctx.nodes}

            # A node restarted at the same map size comes back and catches up.
            follower = next(n for n in ctx.nodes if n != leader)
            ctx.runtime.restart(follower)

            async def serves() -> bool:
                try:
                    async with http.get(
                        f"{urls[follower]}/kv/after", params={"consistency": "stale"}
                    ) as r:
                        return r.status == 200 and (await r.json())["found"]
                except aiohttp.ClientError:
                    assert ctx.runtime.state(follower) is NodeState.RUNNING, "restart failed"
                    return False

            await eventually(serves, what="the restarted node serving")
            for n in ctx.nodes:
                assert ctx.runtime.state(n) is NodeState.RUNNING, f"node {n} died"
                async with http.get(f"{urls[n]}/health") as r:
                    assert r.status in (200, 503)
                    assert (await r.json())["node_id"] == n
            if any(statuses[s] for s in TRANSIENT):
                assert await writes.term() > first_term, statuses
        rss_after = {n: s.rss_bytes for n in ctx.nodes if (s := ctx.runtime.sample(n))}
        print(f"\nstatuses: {dict(statuses)}; {len(written)} big values written")
        for n in ctx.nodes:
            print(
                f"node {n}: map used {full[n]['map_used_bytes']} B when full, "
                f"{emptied[n]['map_used_bytes']} B after deletes + snapshot, of "
                f"{full[n]['map_size_bytes']} B; RSS {rss_before.get(n, 0) >> 20} -> "
                f"{rss_after.get(n, 0) >> 20} MiB"
            )


async def test_a_follower_with_a_smaller_map_stalls_without_dying_and_catches_up(
    tmp_path: Path,
) -> None:
    """Admission is the leader's: a follower with less room than the leader (a smaller map, a
    fuller disk) cannot store what the cluster commits. It must refuse the entries (the leader
    retries), say so on /health and /metrics, stay up, and catch up once there is room."""
    from lab.runtime.base import NodeCommand

    options = NodeOptions(extra_args=("--map-size", MAP))
    async with cluster(tmp_path, options=options) as (ctx, db):
        urls = {n: f"http://{db.http(ctx, n)}" for n in ctx.nodes}
        leader = await leader_of(ctx, db)
        small = next(n for n in ctx.nodes if n != leader)
        ctx.runtime.stop(small)
        argv = [*db.command(ctx, small).argv, "--map-size", "6MiB"]  # the last one wins
        ctx.runtime.start(small, NodeCommand(argv, {"PYTHONUNBUFFERED": "1"}))
        written: list[str] = []
        stalled_seen: list[dict[str, object]] = []
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            writes = Writes(http, ctx, db)
            writes.leader = leader
            statuses = writes.statuses
            first_term = await writes.term()

            async def small_metrics() -> dict[str, object]:
                async with http.get(f"{urls[small]}/raft-metrics") as r:
                    return dict(await r.json())

            async def serving() -> bool:
                try:
                    return bool(await small_metrics())
                except aiohttp.ClientError:
                    return False

            await eventually(serving, what="the small node serving")
            for i in range(40):
                value = "z" * random.Random(i).randrange(100_000, 1_000_000)
                written.append(f"f{i}")
                status, body = await writes.send("PUT", f"/kv/f{i}", {"value": value})
                assert status in (200, 507), (status, body)
                if statuses[507] >= 3:
                    break

            async def stalled() -> bool:
                m = await small_metrics()
                if m["storage_stalled"]:
                    stalled_seen.append(m)
                return bool(m["storage_stalled"])

            async def says_so() -> bool:
                """Stalled, and /health and /metrics say so. The stall ends whenever an entry
                fits again (a small one, after the backoff) and comes back with the next big
                one, so the three are read again until one reading catches them together."""
                if not await stalled():
                    return False
                async with http.get(f"{urls[small]}/health") as r:
                    health = await r.json()
                    status = r.status
                async with http.get(f"{urls[small]}/metrics") as r:
                    metrics = await r.text()
                storage = next(c for c in health["checks"] if c["name"] == "storage")
                return (
                    status == 503
                    and storage["status"] == "fail"
                    and "not accepting entries" in storage["detail"]
                    and "aspen_storage_stalled 1.0" in metrics
                )

            await eventually(says_so, what="the small node out of room, saying so")
            for n in ctx.nodes:
                assert ctx.runtime.state(n) is NodeState.RUNNING, f"node {n} died"

            # Restarting it at the same (too small) map size works, and it stalls again.
            ctx.runtime.restart(small)
            await eventually(serving, what="the small node serving after a restart")
            await eventually(stalled, what="the restarted small node refusing entries")
            assert ctx.runtime.state(small) is NodeState.RUNNING

            for key in written:
                status, body = await writes.send("DELETE", f"/kv/{key}")
                assert status == 200, (key, status, body)
            for n in ctx.nodes:
                async with http.post(f"{urls[n]}/trigger-snapshot") as r:
                    assert r.status in ((200, 507) if n == small else (200,)), await r.text()
            assert (await writes.send("PUT", "/kv/after", {"value": "small"}))[0] == 200

            async def caught_up() -> bool:
                params = {"consistency": "stale"}
                async with http.get(f"{urls[small]}/kv/after", params=params) as r:
                    found = r.status == 200 and (await r.json())["found"]
                return bool(found) and not (await small_metrics())["storage_stalled"]

            await eventually(caught_up, timeout=60, what="the small node catching up")
            assert ctx.runtime.state(small) is NodeState.RUNNING
            if any(statuses[s] for s in TRANSIENT):
                assert await writes.term() > first_term, statuses
        used = stalled_seen[0]["map_used_bytes"]
        print(f"\nstatuses {dict(statuses)}; the 6 MiB node stalled with {used} B in use")
