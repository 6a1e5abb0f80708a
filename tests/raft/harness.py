"""A small synchronous in-memory network of RawNodes, after etcd's ``raft_test.go`` ``network``.

Each node has a MemoryStorage (its disk) and a :class:`StateMachine` (its durable applied state,
persisted with its applied index, as the KV store does). ``send`` delivers messages breadth-first
until nothing is left, handling every Ready in the documented order. Faults: ``cut``,
``isolate``, ``drop(frm, to, perc)``, ``ignore(type)``, ``recover``; ``crash``/``restart`` keep
only the storage and the state machine; ``wipe`` loses both.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aspen.raft import (
    ConfChange,
    ConfState,
    EntryKind,
    MemoryStorage,
    Message,
    RaftConfig,
    RawNode,
    ReadState,
    Ready,
    Role,
)


def encode_list(items: list[bytes]) -> bytes:
    return b"".join(len(x).to_bytes(4, "big") + x for x in items)


def decode_list(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out


@dataclass
class StateMachine:
    """The durable state machine of one node: applied commands, configuration, applied index."""

    applied: int = 0
    data: list[bytes] = field(default_factory=list)
    conf: ConfState = field(default_factory=ConfState)


class Network:
    def __init__(
        self,
        size: int | Iterable[int] = 3,
        *,
        bootstrap: str = "all",
        learners: Iterable[int] = (),
        seed: int = 0,
        storages: dict[int, MemoryStorage] | None = None,
        **config: Any,
    ) -> None:
        """``bootstrap``: "all" nodes with the same conf, "one" (node min id; the others start
        empty), or "none". With ``storages``, nodes restart from those (no bootstrap)."""
        if storages is not None:
            size, bootstrap = sorted(storages), "none"
        ids = list(range(1, size + 1)) if isinstance(size, int) else list(size)
        self.config = config
        self.rng = random.Random(seed)
        self.seed = seed
        self.storages: dict[int, MemoryStorage] = {}
        self.sms: dict[int, StateMachine] = {}
        self.nodes: dict[int, RawNode] = {}
        self.read_states: dict[int, list[ReadState]] = {}
        self.drops: dict[tuple[int, int], float] = {}
        self.ignored: set[type] = set()
        self.blocks: list[Callable[[Message], bool]] = []
        self.rewrites: list[Callable[[Message], Message]] = []
        self.restarts: dict[int, int] = {}
        self.delivered: list[Message] = []
        self.in_flight: list[Message] = []
        self.readies: dict[int, list[Ready]] = {}
        self.on_ready: Callable[[int, Ready], None] | None = None
        learners = list(learners)
        conf = ConfState(voters=frozenset(ids), learners=frozenset(learners))
        for i in ids + learners:
            self.storages[i] = storages[i] if storages is not None else MemoryStorage()
            self.sms[i] = StateMachine()
            self.start(i)
            if bootstrap == "all" or (bootstrap == "one" and i == min(ids)):
                self.nodes[i].bootstrap(conf)
        self.send()

    # --- node life cycle -----------------------------------------------------------------------

    def make_config(self, node: int) -> RaftConfig:
        return RaftConfig(id=node, applied=self.sms[node].applied, **self.config)

    def start(self, node: int) -> RawNode:
        self.restarts[node] = self.restarts.get(node, -1) + 1
        rng = random.Random(self.seed * 1000 + node + 7919 * self.restarts[node])
        self.nodes[node] = RawNode(self.make_config(node), self.storages[node], rng)
        self.read_states.setdefault(node, [])
        return self.nodes[node]

    def add_node(self, node: int) -> RawNode:
        """A new, empty node (to be added by a membership change)."""
        self.storages[node] = MemoryStorage()
        self.sms[node] = StateMachine()
        return self.start(node)

    def crash(self, node: int) -> None:
        """Lose everything not persisted: the node's in-memory state and unsent messages."""
        del self.nodes[node]

    def restart(self, node: int) -> RawNode:
        if node in self.nodes:
            self.crash(node)
        return self.start(node)

    def wipe(self, node: int) -> RawNode:
        """Crash and lose the disk too; restart empty."""
        self.crash(node)
        self.storages[node] = MemoryStorage()
        self.sms[node] = StateMachine()
        return self.start(node)

    # --- faults -------------------------------------------------------------------------------

    def drop(self, frm: int, to: int, perc: float) -> None:
        self.drops[(frm, to)] = perc

    def cut(self, a: int, b: int) -> None:
        self.drop(a, b, 1.0)
        self.drop(b, a, 1.0)

    def isolate(self, node: int) -> None:
        for other in self.storages:
            if other != node:
                self.cut(node, other)

    def ignore(self, kind: type) -> None:
        self.ignored.add(kind)

    def block(self, predicate: Callable[[Message], bool]) -> None:
        """Drop every message for which ``predicate`` is true."""
        self.blocks.append(predicate)

    def rewrite(self, fn: Callable[[Message], Message]) -> None:
        """Deliver ``fn(m)`` instead of each message ``m`` (to model a partial delivery)."""
        self.rewrites.append(fn)

    def recover(self) -> None:
        self.drops.clear()
        self.ignored.clear()
        self.blocks.clear()
        self.rewrites.clear()

    def _filtered(self, m: Message) -> bool:
        if type(m) in self.ignored or m.to not in self.nodes:
            return True
        if any(b(m) for b in self.blocks):
            return True
        perc = self.drops.get((m.frm, m.to), 0.0)
        return perc > 0 and self.rng.random() < perc

    # --- driving ------------------------------------------------------------------------------

    def handle_ready(self, node: int) -> list[Message]:
        """Do what the node's Readys ask, in the documented order; return what to send."""
        n = self.nodes[node]
        storage = self.storages[node]
        sm = self.sms[node]
        out: list[Message] = []
        while n.has_ready():
            rd = n.ready()
            self.readies.setdefault(node, []).append(rd)
            if self.on_ready is not None:
                self.on_ready(node, rd)
            out.extend(rd.messages)
            if rd.snapshot is not None:
                storage.apply_snapshot(rd.snapshot)
            storage.append(rd.entries)
            if rd.hard_state is not None:
                storage.set_hard_state(rd.hard_state)
            out.extend(rd.persisted_messages)
            if rd.snapshot is not None:
                sm.data = decode_list(rd.snapshot.data)
                sm.applied = rd.snapshot.meta.index
                sm.conf = rd.snapshot.meta.conf_state
            for e in rd.committed_entries:
                if e.index != sm.applied + 1:
                    raise AssertionError(f"node {node} applies {e.index} after {sm.applied}")
                if e.kind is EntryKind.CONF_CHANGE:
                    sm.conf = n.apply_conf_change(ConfChange.decode(e.data))
                    storage.set_conf_state(sm.conf)
                elif e.data:
                    sm.data.append(e.data)
                sm.applied = e.index
            self.read_states[node].extend(rd.read_states)
            n.advance(rd)
        return out

    def send(self, *msgs: Message) -> None:
        """Deliver ``msgs`` and everything they cause until the network is quiet."""
        queue: deque[Message] = deque(msgs)
        for node in list(self.nodes):
            queue.extend(self.handle_ready(node))
        while queue:
            m = queue.popleft()
            if self._filtered(m):
                continue
            for fn in self.rewrites:
                m = fn(m)
            self.delivered.append(m)
            self.nodes[m.to].step(m)
            queue.extend(self.handle_ready(m.to))

    # --- step-by-step delivery (for property tests that reorder, drop and duplicate) ----------

    def collect(self) -> None:
        """Handle every node's Readys, putting their messages in flight (``self.in_flight``)."""
        for node in list(self.nodes):
            self.in_flight.extend(self.handle_ready(node))

    def deliver(self, i: int) -> None:
        """Deliver (and remove) the ``i``-th message in flight, then collect the results."""
        m = self.in_flight.pop(i)
        if m.to in self.nodes and not self._filtered(m):
            self.delivered.append(m)
            self.nodes[m.to].step(m)
        self.collect()

    def tick(self, node: int, times: int = 1) -> None:
        for _ in range(times):
            self.nodes[node].tick()
            self.send()

    def elapse(self, ticks: int) -> None:
        """Tick every live node ``ticks`` times, delivering after each round."""
        for _ in range(ticks):
            for n in list(self.nodes.values()):
                n.tick()
            self.send()

    def campaign(self, node: int) -> None:
        self.nodes[node].campaign()
        self.send()

    def propose(self, node: int, data: bytes) -> int:
        index = self.nodes[node].propose(data)
        self.send()
        return index

    def snapshot(self, node: int) -> None:
        """Snapshot the node's state machine at its applied index and compact the log there."""
        sm = self.sms[node]
        storage = self.storages[node]
        storage.create_snapshot(sm.applied, sm.conf, encode_list(sm.data))
        storage.compact(sm.applied)

    # --- queries ------------------------------------------------------------------------------

    def leader(self) -> int:
        """The one live leader of the highest term (0 if none)."""
        leaders = [n for n in self.nodes.values() if n.role is Role.LEADER]
        if not leaders:
            return 0
        return max(leaders, key=lambda n: n.term).id

    def elect(self, node: int, attempts: int = 1) -> None:
        """Campaign up to ``attempts`` times (a lost election still raises the term)."""
        for _ in range(attempts):
            self.campaign(node)
            if self.nodes[node].role is Role.LEADER:
                return
        raise AssertionError(f"node {node} not elected: {self.nodes[node].status()}")

    def wait_leader(self, max_ticks: int = 200) -> int:
        for _ in range(max_ticks):
            lead = self.leader()
            if lead:
                return lead
            self.elapse(1)
        raise AssertionError("no leader elected")

    def log(self, node: int) -> list[tuple[int, int, bytes]]:
        """``(index, term, data)`` of every entry in the node's storage after its snapshot."""
        s = self.storages[node]
        return [(e.index, e.term, e.data) for e in s.entries(s.first_index(), s.last_index() + 1)]


# --- single-node helpers (for tests that inject messages by hand) ---------------------------------


def make_storage(
    voters: Iterable[int] = (1, 2, 3),
    *,
    log_terms: Iterable[int] = (),
    term: int = 0,
    vote: int = 0,
    commit: int = 0,
    learners: Iterable[int] = (),
) -> MemoryStorage:
    """A disk holding entries of ``log_terms`` (at index 1, 2, ...) and that hard state."""
    from aspen.raft import Entry, HardState

    storage = MemoryStorage()
    storage.append([Entry(t, i + 1) for i, t in enumerate(log_terms)])
    storage.set_hard_state(HardState(term, vote, commit))
    storage.set_conf_state(ConfState(frozenset(voters), frozenset(learners)))
    return storage


def make_node(
    node: int,
    voters: Iterable[int] = (1, 2, 3),
    *,
    log_terms: Iterable[int] = (),
    term: int = 0,
    vote: int = 0,
    commit: int = 0,
    learners: Iterable[int] = (),
    seed: int = 0,
    **config: Any,
) -> tuple[RawNode, MemoryStorage]:
    """A node restarted from :func:`make_storage`."""
    storage = make_storage(
        voters, log_terms=log_terms, term=term, vote=vote, commit=commit, learners=learners
    )
    rawnode = RawNode(RaftConfig(id=node, **config), storage, random.Random(seed * 100 + node))
    return rawnode, storage


def drive(node: RawNode, storage: MemoryStorage) -> Ready:
    """Handle one Ready as a driver would (persist, apply conf changes) and return it."""
    rd = node.ready()
    if rd.snapshot is not None:
        storage.apply_snapshot(rd.snapshot)
    storage.append(rd.entries)
    if rd.hard_state is not None:
        storage.set_hard_state(rd.hard_state)
    for e in rd.committed_entries:
        if e.kind is EntryKind.CONF_CHANGE:
            storage.set_conf_state(node.apply_conf_change(ConfChange.decode(e.data)))
    node.advance(rd)
    return rd


def outbox(node: RawNode, storage: MemoryStorage) -> list[Message]:
    """Every message the node wants sent now (handling its Readys)."""
    out: list[Message] = []
    while node.has_ready():
        rd = drive(node, storage)
        out += rd.messages + rd.persisted_messages
    return out


def elapse_until_campaign(node: RawNode, limit: int = 100) -> int:
    """Tick until the node leaves FOLLOWER; returns the number of ticks."""
    for i in range(1, limit + 1):
        node.tick()
        if node.role is not Role.FOLLOWER:
            return i
    raise AssertionError("node never campaigned")
