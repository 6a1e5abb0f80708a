"""A process that speaks the peer protocol and lies (issue #13, item 1).

One AppendEntriesResponse acking index 10**9 used to kill the leader (exit 1, ``Unavailable``
from the Ready loop). Now the core rejects every impossible message before it touches state and
counts it; the leader keeps its term, its role and its clients. These tests attack real
``aspen-node`` processes over a raw socket (frames built in ``_raw_peer``).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aspen.client import Outcome
from aspen.raft.messages import (
    AppendEntriesResponse,
    HeartbeatResponse,
    InstallSnapshotResponse,
    Message,
    RequestVoteResponse,
    TimeoutNow,
)
from lab.context import RunContext
from lab.db.aspen import AspenDB
from tests.adversarial._raw_peer import RawPeer
from tests.integration.cluster import client_for, cluster, leader_of
from tests.waiting import eventually

pytestmark = pytest.mark.integration

CHECK = "aspen_raft_rejected_messages_total"


async def _rejected(ctx: RunContext, db: AspenDB, node: int) -> dict[str, float]:
    """The node's ``aspen_raft_rejected_messages_total`` by check, from ``GET /metrics``."""
    async with aiohttp.ClientSession() as s, s.get(f"http://{db.http(ctx, node)}/metrics") as r:
        text = await r.text()
    return {
        sample.labels["check"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == CHECK
    }


async def _term(ctx: RunContext, db: AspenDB, node: int) -> int:
    status = await db.status(ctx, node)
    assert status is not None, f"node {node} does not answer /raft-metrics"
    return status.term


def _attacker(ctx: RunContext, db: AspenDB, leader: int, claimed: int) -> RawPeer:
    raft = ctx.runtime.endpoint(leader, "raft")
    return RawPeer(raft.host, raft.port, ctx.run_id[:64], claimed)


async def _still_serving(ctx: RunContext, db: AspenDB, leader: int, key: str) -> None:
    assert ctx.runtime.exit_code(leader) is None, "the leader process died"
    async with client_for(ctx, db) as c:
        w = await c.put(key, "v")
        assert w.outcome is Outcome.OK, w
        r = await c.get(key)  # linearizable by default: a ReadIndex round through a quorum
        assert r.outcome is Outcome.OK and r.value == "v", r


async def test_an_ack_beyond_the_log_does_not_kill_the_leader(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (ctx, db):
        leader = await leader_of(ctx, db)
        other = next(n for n in ctx.nodes if n != leader)
        term = await _term(ctx, db, leader)
        before = (await _rejected(ctx, db, leader)).get("index_beyond_log", 0)
        assert before == 0  # the series exists from the start, at 0
        with _attacker(ctx, db, leader, other) as peer:
            peer.send(AppendEntriesResponse(term, other, leader, 10**9))

            async def counted() -> bool:
                return (await _rejected(ctx, db, leader)).get("index_beyond_log", 0) == 1

            await eventually(counted, what="the rejection counted", timeout=10)
            assert peer.still_open()  # the message was refused, the connection kept
        await _still_serving(ctx, db, leader, "after-ack-attack")


async def test_impossible_messages_of_every_kind_are_counted_not_obeyed(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (ctx, db):
        leader = await leader_of(ctx, db)
        other = next(n for n in ctx.nodes if n != leader)
        term = await _term(ctx, db, leader)
        attacks: list[tuple[Message, str]] = [
            (AppendEntriesResponse(term, other, leader, 10**9), "index_beyond_log"),
            (AppendEntriesResponse(term, other, leader, 10**9, True, 0, 0), "index_beyond_log"),
            (AppendEntriesResponse(term, other, leader, 1, True, 10**9, 1), "hint_beyond_rejected"),
            (InstallSnapshotResponse(term, other, leader, 10**9, 0, done=True), "index_beyond_log"),
            (HeartbeatResponse(term + 100, other, leader), "future_term"),
            (RequestVoteResponse(term + 100, other, leader, True), "future_term"),
            (TimeoutNow(term + 100, other, leader), "future_term"),
        ]
        expected: dict[str, int] = {}
        for _, kind in attacks:
            expected[kind] = expected.get(kind, 0) + 1
        with _attacker(ctx, db, leader, other) as peer:
            peer.send(*(m for m, _ in attacks))

            async def all_counted() -> bool:
                got = await _rejected(ctx, db, leader)
                return all(got.get(k, 0) >= n for k, n in expected.items())

            await eventually(all_counted, what="every attack counted", timeout=10)
        got = await _rejected(ctx, db, leader)
        assert {k: int(got.get(k, 0)) for k in expected} == expected
        # A future term on an answer or a TimeoutNow would have deposed the leader.
        assert await _term(ctx, db, leader) < term + 100
        await _still_serving(ctx, db, leader, "after-every-attack")


async def test_a_flood_of_impossible_messages(tmp_path: Path) -> None:
    """10,000 forged acks: the leader survives, its memory stays put, its log does not flood
    (one line per power of two)."""
    async with cluster(tmp_path) as (ctx, db):
        leader = await leader_of(ctx, db)
        other = next(n for n in ctx.nodes if n != leader)
        term = await _term(ctx, db, leader)
        rss_before = ctx.runtime.sample(leader)
        n = 10_000
        with _attacker(ctx, db, leader, other) as peer:
            peer.send(*[AppendEntriesResponse(term, other, leader, 10**9 + i) for i in range(n)])

            async def counted() -> bool:
                return (await _rejected(ctx, db, leader)).get("index_beyond_log", 0) >= n

            await eventually(counted, what=f"{n} rejections counted", timeout=60)
        rss_after = ctx.runtime.sample(leader)
        await _still_serving(ctx, db, leader, "after-flood")
        log_text = ctx.runtime.log_path(leader).read_text(errors="replace")
        lines = [line for line in log_text.splitlines() if "rejected AppendEntriesResponse" in line]
        assert len(lines) <= 16, len(lines)
        assert rss_before is not None and rss_after is not None
        grown = rss_after.rss_bytes - rss_before.rss_bytes
        print(
            f"flood of {n}: rss {rss_before.rss_bytes >> 20} -> {rss_after.rss_bytes >> 20} MiB, "
            f"{len(lines)} log lines"
        )
        assert grown < 64 << 20, f"rss grew by {grown >> 20} MiB"
