"""The driver around the real core, three nodes in one event loop over an in-memory network."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aspen.kv.commands import Cas, CommandResult, Put, encode
from aspen.node.driver import RaftDriver
from aspen.node.memstore import MemoryNodeStorage
from aspen.node.service import NotLeaderError, UnavailableError, UnknownOutcomeError
from aspen.raft import ConfState, InvariantViolation, Message, RaftConfig, RawNode, Role
from aspen.raft.messages import AppendEntriesResponse
from tests.waiting import eventually


class LoopbackNetwork:
    """Delivers messages on the next loop turn; ``cut`` nodes neither send nor receive."""

    def __init__(self) -> None:
        self.drivers: dict[int, RaftDriver] = {}
        self.cut: set[int] = set()

    def transport(self, node_id: int) -> Any:
        net = self

        class T:
            def send(self, msg: Message) -> None:
                if msg.frm in net.cut or msg.to in net.cut or msg.to not in net.drivers:
                    return
                asyncio.get_running_loop().call_soon(net.drivers[msg.to].step, msg)

            def stats(self) -> dict[str, Any]:
                return {}

        return T()


@contextlib.asynccontextmanager
async def three_nodes() -> AsyncIterator[tuple[LoopbackNetwork, dict[int, MemoryNodeStorage]]]:
    net = LoopbackNetwork()
    stores = {}
    for i in (1, 2, 3):
        store = MemoryNodeStorage()
        node = RawNode(RaftConfig(id=i, election_tick=10), store.raft_view, random.Random(i))
        node.bootstrap(ConfState(voters=frozenset({1, 2, 3})))
        # 20 ms ticks: a 200 ms election timeout, so a loaded machine's event loop stall (the
        # ticker then catches up in a burst) does not depose the leader mid-test.
        driver = RaftDriver(node, store, net.transport(i), tick_seconds=0.02)
        net.drivers[i] = driver
        stores[i] = store
    for d in net.drivers.values():
        d.start()
    net.drivers[1].campaign()
    try:
        yield net, stores
    finally:
        for d in net.drivers.values():
            await d.close()


def leader_of(net: LoopbackNetwork) -> RaftDriver | None:
    leaders = [d for i, d in net.drivers.items() if i not in net.cut and d.node.role is Role.LEADER]
    return leaders[0] if len(leaders) == 1 else None


async def leader_and_follower(
    net: LoopbackNetwork, stores: dict[int, MemoryNodeStorage]
) -> tuple[RaftDriver, RaftDriver, MemoryNodeStorage]:
    """The leader once elected, a follower, and the follower's storage; the follower rebuilds
    its core from that storage after a full map, as the node wires it (see aspen.node.server)."""
    await eventually(lambda: leader_of(net) is not None)
    leader = leader_of(net)
    assert leader is not None
    follower = next(d for d in net.drivers.values() if d is not leader)
    store = stores[follower.node.id]
    config = RaftConfig(id=follower.node.id, election_tick=10)
    follower._rebuild = lambda: RawNode(
        dataclasses.replace(config, applied=store.applied_index()),
        store.raft_view,
        random.Random(7),
    )
    return leader, follower, store


async def test_proposals_apply_on_every_node_with_their_results() -> None:
    async with three_nodes() as (net, stores):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None
        index, result = await leader.propose_command(encode(Put("a", "1")), 5)
        assert result == CommandResult()
        _, cas = await leader.propose_command(encode(Cas("a", "0", "2")), 5)
        assert cas == CommandResult(ok=False, previous="1")
        await eventually(lambda: all(s.get("a") == "1" for s in stores.values()))
        assert all(d.applied >= index for d in net.drivers.values())


async def test_many_concurrent_proposals_share_ready_batches() -> None:
    async with three_nodes() as (net, stores):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None
        results = await asyncio.gather(
            *(leader.propose_command(encode(Put(f"k{i}", str(i))), 5) for i in range(200))
        )
        indexes = [i for i, _ in results]
        assert len(set(indexes)) == 200
        await eventually(lambda: all(s.get("k199") == "199" for s in stores.values()))


async def test_follower_refuses_with_the_leader_id() -> None:
    async with three_nodes() as (net, _):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None
        follower = next(d for d in net.drivers.values() if d is not leader)
        await eventually(lambda: follower.node.leader == leader.node.id)
        with pytest.raises(NotLeaderError) as e:
            await follower.propose_command(encode(Put("a", "1")), 1)
        assert e.value.leader_id == leader.node.id


async def test_read_barrier_on_leader_and_refusal_without_quorum() -> None:
    async with three_nodes() as (net, _):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None
        index, _ = await leader.propose_command(encode(Put("a", "1")), 5)
        assert await leader.read_barrier(5) >= index
        net.cut.update(i for i in net.drivers if i != leader.node.id)
        with pytest.raises((UnavailableError, NotLeaderError)):
            await leader.read_barrier(0.5)


async def test_proposal_without_quorum_is_unknown_not_failed() -> None:
    async with three_nodes() as (net, _):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None
        net.cut.update(i for i in net.drivers if i != leader.node.id)
        with pytest.raises((UnknownOutcomeError, UnavailableError)) as e:
            await leader.propose_command(encode(Put("x", "1")), 0.3)
        # The entry was appended to the leader's log: it may still commit, so it must be unknown.
        assert isinstance(e.value, UnknownOutcomeError)


async def test_snapshot_compacts_the_log() -> None:
    async with three_nodes() as (net, stores):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None
        for i in range(20):
            await leader.propose_command(encode(Put(f"k{i}", "v")), 5)
        index = await leader.snapshot_now()
        store = stores[leader.node.id]
        assert store.first_index() == index + 1
        assert store.raft.snapshot().meta.index == index


async def test_a_membership_change_that_can_never_apply_is_a_bad_request() -> None:
    from aspen.node.service import InvalidRequestError
    from aspen.raft import ConfChange, ConfChangeKind

    async with three_nodes() as (net, _):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None
        remove_all = ConfChange(tuple((ConfChangeKind.REMOVE, n) for n in (1, 2, 3)))
        with pytest.raises(InvalidRequestError):
            await leader.propose_membership(remove_all, 2)


async def test_a_failing_storage_write_stops_the_driver_and_fails_pending_work() -> None:
    async with three_nodes() as (net, stores):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None

        def broken(*_a: object) -> list[CommandResult | None]:
            raise OSError("disk on fire")

        stores[leader.node.id].write_ready = broken  # type: ignore[method-assign]
        with pytest.raises(UnknownOutcomeError):
            await leader.propose_command(encode(Put("a", "1")), 5)
        assert isinstance(await leader.wait_closed_or_fatal(), OSError)


async def test_a_core_error_in_the_ticker_is_fatal_not_a_silent_hang() -> None:
    async with three_nodes() as (net, _):
        driver = net.drivers[2]

        class TickExplodes:
            def __init__(self, inner: RawNode) -> None:
                self._inner = inner

            def tick(self) -> None:
                raise RuntimeError("invariant")

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        driver.node = TickExplodes(driver.node)  # type: ignore[assignment]
        assert isinstance(await driver.wait_closed_or_fatal(), RuntimeError)


async def test_an_impossible_peer_message_is_counted_and_the_node_goes_on() -> None:
    # Issue #13: one AppendEntriesResponse acking 10**9 used to crash the leader's Ready loop.
    async with three_nodes() as (net, _):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None
        follower = next(i for i in net.drivers if i != leader.node.id)
        leader.step(AppendEntriesResponse(leader.node.term, follower, leader.node.id, 10**9))
        rejected = leader.rejected_messages()
        assert rejected["index_beyond_log"] == 1 and sum(rejected.values()) == 1
        index, _ = await leader.propose_command(encode(Put("a", "1")), 5)
        assert index > 0 and leader.fatal is None


async def test_an_invariant_violation_while_stepping_stops_the_node() -> None:
    # It used to be caught as a RaftError and logged as a dropped message: the node went on.
    async with three_nodes() as (net, _):
        await eventually(lambda: leader_of(net) is not None)
        driver = net.drivers[2]

        class StepBreaks:
            def __init__(self, inner: RawNode) -> None:
                self._inner = inner

            def step(self, msg: Message) -> None:
                raise InvariantViolation("entry 3 conflicts with committed 5")

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        waiting = asyncio.create_task(driver.wait_applied(10**6, 30))
        await asyncio.sleep(0)
        driver.node = StepBreaks(driver.node)  # type: ignore[assignment]
        fatal = await asyncio.wait_for(driver.wait_closed_or_fatal(), 10)
        assert isinstance(fatal, InvariantViolation)
        with pytest.raises(UnknownOutcomeError):
            await waiting  # what waited on the node is failed, not left hanging


async def test_a_full_storage_stalls_a_follower_without_killing_it_and_it_catches_up() -> None:
    from aspen.storage.errors import StorageFullError

    async with three_nodes() as (net, stores):
        leader, follower, store = await leader_and_follower(net, stores)
        real_write = store.write_ready
        full = True

        def write_ready(*args: Any) -> list[CommandResult | None]:
            if full:
                raise StorageFullError("write ready: LMDB map is full")
            return real_write(*args)

        store.write_ready = write_ready  # type: ignore[method-assign]
        for i in range(5):  # the other two still form a quorum
            await leader.propose_command(encode(Put(f"k{i}", "v")), 5)
        await eventually(lambda: follower.stalled is not None)
        assert follower.fatal is None
        assert store.get("k4") is None
        full = False
        await eventually(lambda: store.get("k4") == "v")
        assert follower.stalled is None and follower.fatal is None


async def test_a_snapshot_that_finds_no_room_backs_off_instead_of_retrying_every_ready() -> None:
    """Background snapshots are asked for after every Ready past the threshold; one that failed
    for want of room waits out its backoff (a full map once failed and logged one every 60 ms),
    and the next that succeeds clears it."""
    from aspen.storage.errors import StorageFullError

    async with three_nodes() as (net, stores):
        await eventually(lambda: leader_of(net) is not None)
        leader = leader_of(net)
        assert leader is not None
        store = stores[leader.node.id]
        real_create = store.create_snapshot
        tries: list[int] = []

        def create_snapshot(*args: Any) -> Any:
            tries.append(args[0])
            raise StorageFullError("create snapshot: LMDB map is full")

        store.create_snapshot = create_snapshot  # type: ignore[method-assign]
        leader._snapshot_threshold = 1
        leader._full_backoff = (3600.0, 3600.0)  # longer than the test: one try, no more
        for i in range(10):
            await leader.propose_command(encode(Put(f"k{i}", "v")), 5)
        await eventually(lambda: bool(tries))
        for i in range(10, 20):
            await leader.propose_command(encode(Put(f"k{i}", "v")), 5)
        assert len(tries) == 1, tries
        store.create_snapshot = real_create  # type: ignore[method-assign]
        leader._snapshot_not_before = 0.0  # the backoff is over
        await leader.propose_command(encode(Put("k20", "v")), 5)
        await eventually(lambda: leader._snapshot_strikes == 0 and store.first_index() > 1)


async def test_a_follower_that_cannot_apply_what_it_holds_answers_and_installs_a_snapshot() -> None:
    """A follower whose map took an entry into its log but has no room to apply it (its map is
    smaller than the leader's) is handed that entry again with every heartbeat's commit, and
    every such Ready fails. It must still answer, and take the snapshot the leader sends once
    it compacted past it: installing it replaces what filled the map. (A fresh clone's run of
    test_full_disk once stalled 60 s so: its answers were lost with each failed Ready, and the
    snapshot was refused with the entries.)"""
    from aspen.storage.errors import StorageFullError

    async with three_nodes() as (net, stores):
        leader, follower, store = await leader_and_follower(net, stores)
        real_write = store.write_ready
        installed: list[int] = []

        def write_ready(*args: Any) -> list[CommandResult | None]:
            _, _, snapshot, committed, _ = args
            if snapshot is not None:
                installed.append(snapshot.meta.index)
            elif committed and not installed:
                raise StorageFullError("write ready: LMDB map is full")
            return real_write(*args)

        store.write_ready = write_ready  # type: ignore[method-assign]
        for i in range(5):
            await leader.propose_command(encode(Put(f"k{i}", "v")), 5)
        await eventually(lambda: follower.stalled is not None)
        assert follower.fatal is None
        index = await leader.snapshot_now()  # the leader compacts past what the follower holds
        await eventually(lambda: store.get("k4") == "v", what="the follower installing it")
        assert installed and installed[0] >= index
        await leader.propose_command(encode(Put("after", "v")), 5)
        await eventually(lambda: store.get("after") == "v" and follower.stalled is None)
        assert follower.fatal is None
