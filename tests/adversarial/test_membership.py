"""Membership that is safe against a careless or hostile operator (issue #13, item 6), and the
leadership-transfer verb, against real ``aspen-node`` processes over raw HTTP.

Seen live before: a learner that never started was promoted (4 voters, 3 alive); ``/add-peer``
took any id and overwrote a live member's addresses, with no way back; a follower answered
``change-membership`` from its own view; a removed node said it was healthy forever.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aspen.client import AsyncClient, Outcome
from lab.context import RunContext
from lab.db.aspen import AspenDB
from tests.integration.cluster import client_for, cluster, leader_of
from tests.waiting import eventually

pytestmark = pytest.mark.integration

BOGUS = {"raft": "127.0.0.1:2", "http": "127.0.0.1:2"}


async def call(
    ctx: RunContext, db: AspenDB, node: int, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """One raw request to ``node`` (no redirects followed): status and JSON body."""
    url = f"http://{db.http(ctx, node)}{path}"
    async with aiohttp.ClientSession() as s, s.request(method, url, json=body) as r:
        return r.status, await r.json(content_type=None)


async def members(ctx: RunContext, db: AspenDB, node: int) -> dict[str, Any]:
    status, body = await call(ctx, db, node, "GET", "/membership")
    assert status == 200, body
    return dict(body)


async def assert_serving(ctx: RunContext, db: AspenDB, key: str) -> None:
    for n in ctx.nodes:
        assert ctx.runtime.exit_code(n) is None, f"node {n} died"
    async with client_for(ctx, db) as c:
        assert (await c.put(key, "v")).outcome is Outcome.OK
        assert (await c.get(key)).value == "v"


async def test_a_learner_that_never_started_is_not_promoted(tmp_path: Path) -> None:
    async with cluster(tmp_path, spare=(4,)) as (ctx, db):
        await db.add_learner(ctx, 4)  # node 4 is never started
        leader = await leader_of(ctx, db)
        status, body = await call(
            ctx, db, leader, "POST", "/change-membership", {"voters": [1, 2, 3, 4]}
        )
        assert status == 409, body
        assert body["code"] == "conflict"
        assert body["behind"]["4"]["match"] == 0 and body["behind"]["4"]["lag"] > 0
        assert body["max_lag"] == 1000
        m = await members(ctx, db, leader)
        assert m["voters"] == [1, 2, 3] and m["learners"] == [4]
        # Started, it catches up and the same request goes through.
        db.start_node(ctx, 4)
        async with client_for(ctx, db) as c:

            async def promoted() -> bool:
                return (await c.change_membership([1, 2, 3, 4])).outcome is Outcome.OK

            await eventually(promoted, what="node 4 promoted once caught up")
        ctx.nodes = [1, 2, 3, 4]
        await assert_serving(ctx, db, "after-promotion")


async def test_add_peer_takes_only_members_and_never_rewrites_a_live_one(tmp_path: Path) -> None:
    async with cluster(tmp_path, spare=(4,)) as (ctx, db):
        leader = await leader_of(ctx, db)
        follower = next(n for n in ctx.nodes if n != leader)
        before = await members(ctx, db, leader)

        status, body = await call(ctx, db, leader, "POST", "/add-peer", {"node_id": 99, **BOGUS})
        assert (status, body["code"]) == (400, "invalid_request"), body
        status, body = await call(
            ctx, db, leader, "POST", "/add-peer", {"node_id": follower, **BOGUS}
        )
        assert (status, body["code"]) == (409, "conflict"), body
        assert body["raft"] == before["members"][str(follower)]["raft"]
        # The same addresses again are a harmless no-op.
        same = {"node_id": follower, **before["members"][str(follower)]}
        status, body = await call(ctx, db, leader, "POST", "/add-peer", same)
        assert status == 200, body

        assert await members(ctx, db, leader) == before
        status, body = await call(ctx, db, leader, "GET", "/cluster-ticket")
        assert status == 200 and all(p["http"] != BOGUS["http"] for p in body["peers"])
        await assert_serving(ctx, db, "after-add-peer")


async def test_delete_peer_undoes_an_add_peer(tmp_path: Path) -> None:
    async with cluster(tmp_path, spare=(4,)) as (ctx, db):
        leader = await leader_of(ctx, db)
        # A learner recorded at a wrong address, never reachable: its record can be undone.
        async with client_for(ctx, db) as c:
            assert (await c.add_learner(4, BOGUS["raft"], BOGUS["http"])).outcome is Outcome.OK
        assert (await members(ctx, db, leader))["members"]["4"] == BOGUS

        async def deleted() -> bool:
            # 409 for the first election timeout: a newcomer counts as live until then
            status, _ = await call(ctx, db, leader, "DELETE", "/peers/4")
            return status == 200

        await eventually(deleted, what="DELETE /peers/4 accepted")
        assert (await members(ctx, db, leader))["members"].get("4") is None
        status, body = await call(ctx, db, leader, "DELETE", "/peers/4")
        assert (status, body["code"]) == (404, "not_found")
        status, body = await call(ctx, db, leader, "DELETE", f"/peers/{leader}")
        assert (status, body["code"]) == (409, "conflict")
        # Now the right address can be recorded (node 4 is a member, not live).
        right = {"raft": db._raft(ctx, 4), "http": db.http(ctx, 4)}
        status, body = await call(ctx, db, leader, "POST", "/add-peer", {"node_id": 4, **right})
        assert status == 200, body
        await assert_serving(ctx, db, "after-delete-peer")


async def test_membership_requests_on_a_follower_go_to_the_leader(tmp_path: Path) -> None:
    async with cluster(tmp_path, spare=(4,)) as (ctx, db):
        await db.add_learner(ctx, 4)
        leader = await leader_of(ctx, db)
        follower = next(n for n in ctx.nodes if n != leader)
        # A no-op on the follower's view was answered 200 by the follower itself before.
        for path, body in [
            ("/change-membership", {"voters": [1, 2, 3]}),
            ("/change-membership", {"voters": [1, 2, 3, 4]}),
            ("/add-peer", {"node_id": 99, **BOGUS}),
            ("/transfer-leadership", {}),
        ]:
            status, reply = await call(ctx, db, follower, "POST", path, body)
            assert status == 421, (path, reply)
            assert reply["leader_id"] == leader and reply["location"].endswith(path)
        status, reply = await call(ctx, db, follower, "DELETE", "/peers/4")
        assert status == 421 and reply["leader_id"] == leader
        # Followed, the request is decided on the leader's view: node 4 never acknowledged.
        url = f"http://{db.http(ctx, follower)}"
        async with AsyncClient([url], timeout=3.0) as c:
            r = await c.change_membership([1, 2, 3, 4])
        assert r.outcome is Outcome.FAIL and r.status == 409 and r.endpoint != url, r
        assert (await members(ctx, db, leader))["voters"] == [1, 2, 3]


async def test_a_removed_node_reports_removed_on_health(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (ctx, db):
        leader = await leader_of(ctx, db)
        gone = next(n for n in ctx.nodes if n != leader)
        status, body = await call(ctx, db, gone, "GET", "/health")
        assert (status, body["removed"]) == (200, False), body
        await db.remove_member(ctx, gone)

        async def says_removed() -> bool:
            status, body = await call(ctx, db, gone, "GET", "/health")
            return status == 503 and body["removed"] is True

        await eventually(says_removed, what=f"node {gone} reporting itself removed")
        _, body = await call(ctx, db, gone, "GET", "/health")
        check = next(c for c in body["checks"] if c["name"] == "membership")
        assert check["status"] == "fail" and "removed" in check["detail"]
        ctx.nodes = [n for n in ctx.nodes if n != gone]
        await assert_serving(ctx, db, "after-removal")


async def test_leadership_transfer_moves_the_leader(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (ctx, db):
        leader = await leader_of(ctx, db)
        target = next(n for n in ctx.nodes if n != leader)
        status, body = await call(ctx, db, leader, "POST", "/transfer-leadership", {"to": target})
        assert status == 200, body
        assert (body["previous"], body["leader_id"]) == (leader, target)
        assert await leader_of(ctx, db) == target
        # The CLI, from any endpoint, to whichever voter is most caught up.
        endpoints = ",".join(db.http(ctx, n) for n in ctx.nodes)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "aspen.cli",
            "--endpoints",
            endpoints,
            "--json",
            "transfer-leader",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err
        assert b'"outcome": "ok"' in out
        new = await leader_of(ctx, db)
        assert new != target
        status, body = await call(ctx, db, new, "POST", "/transfer-leadership", {"to": 99})
        assert (status, body["code"]) == (400, "invalid_request")
        await assert_serving(ctx, db, "after-transfer")
