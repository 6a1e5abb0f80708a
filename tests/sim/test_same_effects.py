"""The simulator's node and the production driver do the same thing with the same Readies.

One real core's Readies (election, writes, a membership change, a linearizable read) are
recorded, then replayed through :class:`~tests.raft.harness.ScriptedCore` into the production
``RaftDriver`` (on asyncio, its write in a thread) and into the simulator's ``SimNode`` (on
virtual time). Fakes at their edges record the effects: storage writes, messages sent, entries
applied, proposal answers, reads served. Both must record the same.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from aspen.kv.commands import CommandResult, Put, encode
from aspen.node.driver import RaftDriver
from aspen.node.memstore import MemoryNodeStorage
from aspen.node.service import UnavailableError
from aspen.raft import (
    ConfChange,
    ConfChangeKind,
    Entry,
    Message,
    RaftConfig,
    Role,
)
from aspen.sim.client import Op
from aspen.sim.invariants import Invariants
from aspen.sim.node import NodeHost, NodeOptions, SimNode
from aspen.sim.scheduler import Scheduler
from tests.raft.harness import Network, Scripted, ScriptedCore, record_readies

READ_CONTEXT = (1).to_bytes(8, "big")  # what the driver's first read_barrier uses


@dataclass
class Effects:
    writes: list[tuple[Any, ...]] = field(default_factory=list)
    sent: list[Message] = field(default_factory=list)
    applied: list[int] = field(default_factory=list)
    answers: dict[int, str] = field(default_factory=dict)
    reads: list[bytes] = field(default_factory=list)

    def write(self, *args: Any) -> None:
        hard_state, entries, snapshot, committed, conf_state = args
        self.writes.append((hard_state, list(entries), snapshot, list(committed), conf_state))


def answer(result: CommandResult | None) -> str:
    return f"ok {result!r}"


def scenario() -> tuple[list[Scripted], dict[bytes, tuple[int, int]]]:
    """Node 1's Readies while it is elected, takes writes, adds a learner and serves a read."""
    proposals: dict[bytes, tuple[int, int]] = {}

    def run(net: Network) -> None:
        net.elect(1)
        leader = net.nodes[1]
        for i in range(3):
            data = encode(Put(f"k{i}", f"v{i}"))
            proposals[data] = (net.propose(1, data), leader.term)
        net.add_node(4)
        leader.propose_membership(ConfChange(((ConfChangeKind.ADD_LEARNER, 4),)))
        net.send()
        leader.read_index(READ_CONTEXT)
        net.send()
        # A proposal of an older term whose index another leader's entry took.
        empty = next(i for i, _, data in net.log(1) if data == b"")  # the election's
        proposals[b"stale"] = (empty, leader.term - 1)

    script = record_readies(1, run)
    return script, proposals


# --- the production driver ------------------------------------------------------------------


class RecordingStorage(MemoryNodeStorage):
    def __init__(self, effects: Effects) -> None:
        super().__init__()
        self.effects = effects

    def write_ready(self, *write: Any) -> list[CommandResult | None]:
        self.effects.write(*write)
        return super().write_ready(*write)


class RecordingTransport:
    def __init__(self, effects: Effects) -> None:
        self.effects = effects

    def send(self, msg: Message) -> None:
        self.effects.sent.append(msg)

    def stats(self) -> dict[str, Any]:
        return {}


async def through_the_driver(
    script: list[Scripted], proposals: dict[bytes, tuple[int, int]]
) -> Effects:
    effects = Effects()
    core = ScriptedCore(script, proposals)
    held = ScriptedCore([])  # no Ready until every proposal waits, as when they came first
    driver = RaftDriver(
        held,  # type: ignore[arg-type]
        RecordingStorage(effects),
        RecordingTransport(effects),
        tick_seconds=3600.0,
        on_applied=lambda entries: effects.applied.extend(e.index for e in entries),
    )
    driver.start()
    held.proposals = proposals
    waiting = {
        index: asyncio.create_task(driver.propose_command(data, 30.0))
        for data, (index, _) in proposals.items()
    }
    while len(driver._processor._waiters) < len(proposals):
        await asyncio.sleep(0)
    # The read is asked of the leader, just before the Ready that confirms it.
    core.limit = next(i for i, s in enumerate(script) if s.ready.read_states)
    driver.node = core  # type: ignore[assignment]
    driver._wake.set()
    while ("advance", core.limit - 1) not in core.events:
        await asyncio.sleep(0)
    core.limit = len(script)
    read = asyncio.create_task(driver.read_barrier(30.0))  # wakes the Ready loop
    for index, task in waiting.items():
        try:
            effects.answers[index] = answer((await task)[1])
        except UnavailableError:
            effects.answers[index] = "replaced"
    await read
    effects.reads.append(READ_CONTEXT)
    await driver.close()
    assert driver.fatal is None
    return effects


# --- the simulator's node -------------------------------------------------------------------


class Host(NodeHost):
    def __init__(self, effects: Effects) -> None:
        self.effects = effects
        self.sched = Scheduler()
        self.inv = Invariants("same effects", lambda: iter(()))

    def send(self, msg: Message) -> None:
        self.effects.sent.append(msg)

    def on_apply(self, node: SimNode, entry: Entry, result: CommandResult | None) -> None:
        self.effects.applied.append(entry.index)

    def on_answer(self, node: SimNode, op: Op, entry: Entry, result: CommandResult | None) -> None:
        self.effects.answers[op.index] = answer(result)

    def on_replaced(self, node: SimNode, op: Op, entry: Entry) -> None:
        self.effects.answers[op.index] = "replaced"

    def on_read(self, node: SimNode, context: bytes) -> None:
        self.effects.reads.append(context)

    def on_role(self, node: SimNode, role: Role, term: int) -> None:
        pass


class RecordingSimNode(SimNode):
    def write_ready(self, *write: Any) -> list[CommandResult | None]:
        assert isinstance(self.host, Host)
        self.host.effects.write(*write)
        return super().write_ready(*write)


def through_the_simulator(
    script: list[Scripted], proposals: dict[bytes, tuple[int, int]], fsync_ns: int
) -> Effects:
    effects = Effects()
    host = Host(effects)
    node = RecordingSimNode(1, host, NodeOptions(RaftConfig(id=1), fsync_ns), random.Random(1))
    node.start()
    core = ScriptedCore(script, proposals)
    node.raw = node.processor.node = core  # type: ignore[assignment,union-attr]
    for n, (data, (index, term)) in enumerate(proposals.items()):
        node.expect(Op(n, 0, 0, "write", "", None, 1, node.epoch, term, index, data))
    host.sched.run_until(10**12)
    return effects


def test_the_simulator_and_the_driver_have_the_same_effects() -> None:
    script, proposals = scenario()
    driver = asyncio.run(through_the_driver(script, proposals))
    assert driver.writes and driver.sent and driver.reads == [READ_CONTEXT]
    assert sorted(driver.answers.values()).count("replaced") == 1
    for fsync_ns in (0, 2_000_000):
        assert through_the_simulator(script, proposals, fsync_ns) == driver
