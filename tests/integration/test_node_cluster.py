"""Aspen nodes as real processes on 127.0.0.1: formation, failover, durability, membership."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aspen.client import AsyncClient, Outcome
from tests.integration.cluster import client_for, cluster, leader_of, stale_get
from tests.waiting import eventually

pytestmark = pytest.mark.integration


async def all_nodes_have(ctx, db, nodes, key: str, value: str) -> None:  # type: ignore[no-untyped-def]
    for n in nodes:

        async def has(n: int = n) -> bool:
            return await stale_get(ctx, db, n, key) == value

        await eventually(has, what=f"node {n} having {key}={value}")


async def test_three_nodes_form_and_replicate(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (ctx, db):
        async with client_for(ctx, db) as c:
            for i in range(20):
                assert (await c.put(f"k{i}", f"v{i}")).outcome is Outcome.OK
            assert (await c.get("k19")).value == "v19"
        await all_nodes_have(ctx, db, ctx.nodes, "k19", "v19")


async def test_killing_the_leader_elects_another_and_loses_no_acknowledged_write(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as (ctx, db):
        acked = {}
        async with client_for(ctx, db) as c:
            for i in range(30):
                if (await c.put(f"k{i}", f"a{i}")).outcome is Outcome.OK:
                    acked[f"k{i}"] = f"a{i}"
            old = await leader_of(ctx, db)
            ctx.runtime.kill(old)
            survivors = [n for n in ctx.nodes if n != old]

            async def new_leader() -> bool:
                statuses = await asyncio.gather(*(db.status(ctx, n) for n in survivors))
                return any(s is not None and s.role == "leader" for s in statuses)

            await eventually(new_leader, what="a new leader")
        async with client_for(ctx, db, survivors) as c:
            for i in range(30, 40):
                if (await c.put(f"k{i}", f"a{i}")).outcome is Outcome.OK:
                    acked[f"k{i}"] = f"a{i}"
            for key, value in acked.items():
                assert (await c.get(key)).value == value, key
        assert len(acked) >= 35
        db.start_node(ctx, old)
        await all_nodes_have(ctx, db, [old], "k39", acked["k39"])


async def test_kill_minus_nine_of_all_nodes_keeps_every_acknowledged_write(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as (ctx, db):
        acked: dict[str, str] = {}

        async def writer(w: int) -> None:
            async with client_for(ctx, db) as c:
                for i in range(40):
                    key, value = f"w{w}-{i % 7}", f"{w}-{i}"
                    if (await c.put(key, value)).outcome is Outcome.OK:
                        acked[key] = value

        await asyncio.gather(*(writer(w) for w in range(4)))
        for n in ctx.nodes:
            ctx.runtime.kill(n)
        for n in ctx.nodes:
            db.start_node(ctx, n)
        await leader_of(ctx, db)
        async with client_for(ctx, db) as c:
            for key, value in sorted(acked.items()):
                r = await c.get(key)
                assert r.outcome is Outcome.OK and r.value == value, (key, r)
        assert len(acked) == 28


async def test_membership_three_to_five_to_three_while_writing(tmp_path: Path) -> None:
    async with cluster(tmp_path, spare=(4, 5)) as (ctx, db):
        acked: dict[str, str] = {}
        stop = asyncio.Event()

        async def writer() -> None:
            async with client_for(ctx, db, [1, 2, 3]) as c:
                i = 0
                while not stop.is_set():
                    i += 1
                    if (await c.put(f"m{i % 20}", str(i))).outcome is Outcome.OK:
                        acked[f"m{i % 20}"] = str(i)

        task = asyncio.create_task(writer())
        try:
            for n in (4, 5):
                db.start_node(ctx, n)
                await db.add_learner(ctx, n)
            await db.promote(ctx, [4, 5])
            ctx.nodes = [1, 2, 3, 4, 5]

            async def voters_are(expected: set[int]) -> bool:
                s = await db.status(ctx, 1)
                return s is not None and set(s.voters) == expected and not s.learners

            await eventually(lambda: voters_are({1, 2, 3, 4, 5}), what="five voters")
            async with client_for(ctx, db, [1, 2, 3]) as c:

                async def shrink() -> bool:
                    # 409 while the joint configuration of the promotion is still being left
                    r = await c.change_membership([1, 2, 3])
                    return r.outcome is Outcome.OK

                await eventually(shrink, what="the change back to three voters accepted")
            await eventually(lambda: voters_are({1, 2, 3}), what="back to three voters")
            await eventually(lambda: len(acked) == 20, what="writes to all 20 keys")
        finally:
            stop.set()
            await task
        ctx.nodes = [1, 2, 3]
        async with client_for(ctx, db) as c:
            for key, value in acked.items():
                assert (await c.get(key)).value == value
        assert len(acked) == 20


async def test_new_learner_catches_up_by_snapshot_after_compaction(tmp_path: Path) -> None:
    async with cluster(tmp_path, spare=(4,)) as (ctx, db):
        async with client_for(ctx, db) as c:
            for i in range(60):
                assert (await c.put(f"s{i}", str(i))).outcome is Outcome.OK
            for n in ctx.nodes:
                url = f"http://{db.http(ctx, n)}"
                r = await c.trigger_snapshot(endpoint=url)
                assert r.outcome is Outcome.OK and (r.value or 0) >= 60, r
        db.start_node(ctx, 4)
        await db.add_learner(ctx, 4)
        await all_nodes_have(ctx, db, [4], "s59", "59")
        url = f"http://{db.http(ctx, 4)}"
        async with AsyncClient([url]) as c:
            metrics = await c.raft_metrics(endpoint=url)
        assert metrics.value is not None and metrics.value["snapshot_index"] >= 60


async def test_garbage_from_a_peer_does_not_hurt_the_node(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (ctx, db):
        raft = ctx.runtime.endpoint(1, "raft")
        for payload in (
            b"\x00\x00\x00\x05hello",
            b"\xff\xff\xff\xff" + b"x" * 64,
            b"GET / HTTP/1.1\r\n\r\n",
        ):
            with socket.create_connection((raft.host, raft.port), timeout=5) as s:
                s.sendall(payload)
        async with client_for(ctx, db) as c:
            assert (await c.put("after-garbage", "ok")).outcome is Outcome.OK
        await all_nodes_have(ctx, db, ctx.nodes, "after-garbage", "ok")
        assert ctx.runtime.exit_code(1) is None


def test_bad_config_exits_2_with_one_line_naming_the_field(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "aspen.node", "--node-id", "0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "node_id" in lines[0]


async def test_a_node_joins_as_learner_with_a_cluster_ticket(tmp_path: Path) -> None:
    from lab.db.aspen import node_argv
    from lab.runtime.base import NodeCommand

    async with cluster(tmp_path, spare=(4,)) as (ctx, db):
        async with client_for(ctx, db) as c:
            assert (await c.put("before-join", "1")).outcome is Outcome.OK
            ticket = await c.cluster_ticket()
        assert ticket.outcome is Outcome.OK and ticket.value, ticket
        raft, http = ctx.runtime.endpoint(4, "raft"), ctx.runtime.endpoint(4, "http")
        argv = [
            *node_argv("local"),
            "--node-id", "4",
            "--data-dir", ctx.runtime.data_dir(4),
            "--raft-addr", raft.address,
            "--http-addr", http.address,
            "--ticket", str(ticket.value),
        ]  # fmt: skip
        ctx.runtime.start(4, NodeCommand(argv, {}))

        async def learner() -> bool:
            s = await db.status(ctx, 1)
            return s is not None and 4 in s.learners

        await eventually(learner, what="node 4 as a learner")
        await all_nodes_have(ctx, db, [4], "before-join", "1")


def test_a_bad_ticket_is_refused_with_one_line(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "aspen.node", "--node-id", "4", "--data-dir", str(tmp_path),
         "--ticket", "aspennotaticket"],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "ticket" in p.stderr


def _node(data_dir: Path, node_id: int, *extra: str) -> subprocess.CompletedProcess[str]:
    from lab.runtime.local import free_port

    return subprocess.run(
        [sys.executable, "-m", "aspen.node", "--node-id", str(node_id),
         "--data-dir", str(data_dir), "--raft-addr", f"127.0.0.1:{free_port()}",
         "--http-addr", f"127.0.0.1:{free_port()}", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def test_a_foreign_or_corrupt_data_dir_is_refused_with_one_line(tmp_path: Path) -> None:
    from aspen.storage.lmdb import LmdbStorage

    LmdbStorage(tmp_path / "n1", 1).close()
    other = _node(tmp_path / "n1", 2)
    assert other.returncode == 2, other.stderr
    assert len(other.stderr.strip().splitlines()) == 1 and "node" in other.stderr
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "data.mdb").write_bytes(b"not an lmdb file" * 100)
    junk = _node(tmp_path / "junk", 1)
    assert junk.returncode == 2, junk.stderr
    assert len(junk.stderr.strip().splitlines()) == 1


async def test_nodes_told_nothing_about_each_other_form_a_cluster_on_init(
    tmp_path: Path,
) -> None:
    """Only the init call names the members: the others learn addresses from Hello frames."""
    import uuid

    from lab.db.aspen import node_argv
    from lab.runtime.base import NodeCommand
    from lab.runtime.local import LocalRuntime

    rt = LocalRuntime(tmp_path, [1, 2, 3], run_id=f"it-{uuid.uuid4().hex}")
    try:
        members = {}
        for n in (1, 2, 3):
            raft, http = rt.endpoint(n, "raft"), rt.endpoint(n, "http")
            members[n] = (raft.address, http.address)
            argv = [
                *node_argv("local"),
                "--node-id", str(n),
                "--data-dir", rt.data_dir(n),
                "--raft-addr", raft.address,
                "--http-addr", http.address,
            ]  # fmt: skip
            rt.start(n, NodeCommand(argv, {}))
        urls = [f"http://{members[n][1]}" for n in (1, 2, 3)]
        async with AsyncClient(urls, timeout=5.0) as c:

            async def serving() -> bool:
                answers = [await c.request("GET", "/node-info", endpoint=u) for u in urls]
                return all(r.outcome is Outcome.OK for r in answers)

            await eventually(serving, what="all nodes serving")
            init = await c.init(members, endpoint=urls[0])
            assert init.outcome is Outcome.OK, init
            assert (await c.put("k", "v")).outcome is Outcome.OK
            for url in urls:

                async def replicated(url: str = url) -> bool:
                    r = await c.get("k", consistency="stale", endpoint=url)
                    return r.value == "v"

                await eventually(replicated, what=f"k at {url}")
    finally:
        rt.close()
