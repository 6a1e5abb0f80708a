"""A small synchronous in-memory network of RawNodes, after etcd's ``raft_test.go`` ``network``.

Each node has a MemoryStorage (its disk) and a :class:`StateMachine` (its durable applied state,
persisted with its applied index, as the KV store does). ``send`` delivers messages breadth-first
until nothing is left, handling every Ready with the nodes' own ``ReadyProcessor``. Faults: ``cut``,
``isolate``, ``drop(frm, to, perc)``, ``ignore(type)``, ``recover``; ``crash``/``restart`` keep
only the storage and the state machine; ``wipe`` loses both.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aspen.raft import (
    ConfChange,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    MemoryStorage,
    Message,
    RaftConfig,
    RawNode,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SoftState,
    confchange,
)
from aspen.raft.ready_processor import ReadyProcessor


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


class Disk:
    """A node's ``ReadyStore``: its MemoryStorage and, if it keeps one, its state machine."""

    def __init__(self, storage: MemoryStorage, sm: StateMachine | None = None) -> None:
        self.storage = storage
        self.sm = sm

    def write_ready(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        committed: Sequence[Entry],
        conf_state: ConfState | None,
    ) -> list[None]:
        storage = self.storage
        if snapshot is not None:
            storage.apply_snapshot(snapshot)
        storage.append(list(entries))
        if hard_state is not None:
            storage.set_hard_state(hard_state)
        if conf_state is not None:
            storage.set_conf_state(conf_state)
        sm = self.sm
        if sm is not None:
            if snapshot is not None:
                sm.data = decode_list(snapshot.data)
                sm.applied = snapshot.meta.index
            for e in committed:
                if e.index != sm.applied + 1:
                    raise AssertionError(f"applies {e.index} after {sm.applied}")
                if e.kind is EntryKind.NORMAL and e.data:
                    sm.data.append(e.data)
                sm.applied = e.index
            if conf_state is not None:
                sm.conf = conf_state
        return [None] * len(committed)


class Outbox:
    """A node's ``Transport`` (the messages it wants sent) and ``Outcomes`` (its reads)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.read_states: list[ReadState] = []

    def send(self, msg: Message) -> None:
        self.messages.append(msg)

    def applied(self, applied: int, entries: Sequence[Entry], results: Sequence[None]) -> None:
        pass

    def proposal_applied(self, waiter: object, entry: Entry, result: None) -> None:
        pass

    def proposal_replaced(self, waiter: object, entry: Entry) -> None:
        pass

    def read_ready(self, context: bytes, index: int) -> None:
        self.read_states.append(ReadState(index, context))

    def role_changed(self, soft: SoftState, term: int) -> None:
        pass


def processor(node: RawNode, disk: Disk, outbox: Outbox) -> ReadyProcessor[RawNode, None, object]:
    applied = disk.sm.applied if disk.sm is not None else node.applied
    return ReadyProcessor(node, disk, outbox, outbox, applied=applied)


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
        self.processors: dict[int, ReadyProcessor[RawNode, None, object]] = {}
        self.outboxes: dict[int, Outbox] = {}
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
        raw = self.nodes[node] = RawNode(self.make_config(node), self.storages[node], rng)
        outbox = self.outboxes[node] = Outbox()
        outbox.read_states = self.read_states.setdefault(node, [])
        self.processors[node] = processor(raw, Disk(self.storages[node], self.sms[node]), outbox)
        return raw

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
        """Hand the node's Readys to its processor (``on_ready`` sees each one first, after its
        ``messages`` went to the outbox); return what to send."""
        proc = self.processors[node]
        outbox = self.outboxes[node]
        outbox.messages = []
        while (step := proc.begin()) is not None:
            self.readies.setdefault(node, []).append(step.ready)
            if self.on_ready is not None:
                self.on_ready(node, step.ready)
            proc.finish(step, step.write(proc.store))
        return outbox.messages

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
    """Handle one Ready as a driver would (persist, apply conf changes) and return it (an
    empty one if the node had nothing to do)."""
    proc = processor(node, Disk(storage), Outbox())
    step = proc.begin()
    if step is None:
        return Ready()
    proc.finish(step, step.write(proc.store))
    return step.ready


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


# --- a core that replays Readies (to feed the same Readies to several drivers) --------------------


@dataclass(frozen=True)
class Scripted:
    """One Ready as a real core handed it out, with the core's term and configuration then."""

    ready: Ready
    term: int
    conf: ConfState


class ScriptedCore:
    """Hands out ``script``'s Readies in order (the processor's ``Core``); ``propose`` answers
    from ``proposals`` (data -> index, term), as the real core did when the script was taken.
    ``events`` logs what was asked of it: ``("ready", i)``, ``("conf", ConfState)``,
    ``("advance", i)``."""

    def __init__(
        self, script: Sequence[Scripted], proposals: dict[bytes, tuple[int, int]] | None = None
    ) -> None:
        self.script = list(script)
        self.proposals = proposals or {}
        self.next = 0
        self.limit = len(self.script)
        """Readies past this many are held back (``has_ready`` is False)."""
        self.term = 0
        self.conf_state = ConfState()
        self.events: list[tuple[str, object]] = []
        self.rejected: dict[str, int] = {}

    def has_ready(self) -> bool:
        return self.next < min(self.limit, len(self.script))

    def ready(self) -> Ready:
        s = self.script[self.next]
        self.events.append(("ready", self.next))
        self.next += 1
        self.term, self.conf_state = s.term, s.conf
        return s.ready

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        self.conf_state = confchange.apply(self.conf_state, change)
        self.events.append(("conf", self.conf_state))
        return self.conf_state

    def advance(self, rd: Ready) -> None:
        self.events.append(("advance", self.next - 1))

    def propose(self, data: bytes) -> int:
        index, self.term = self.proposals[data]
        return index

    def read_index(self, context: bytes) -> None:
        pass

    def tick(self) -> None:
        pass


def record_readies(node: int, run: Callable[[Network], None], size: int = 3) -> list[Scripted]:
    """Every Ready ``node`` handled while ``run`` drove a freshly bootstrapped network."""
    net = Network(size, bootstrap="none")
    script: list[Scripted] = []

    def record(n: int, rd: Ready) -> None:
        if n == node:
            core = net.nodes[n]
            script.append(Scripted(rd, core.term, core.conf_state))

    net.on_ready = record
    conf = ConfState(voters=frozenset(net.nodes))
    for n in net.nodes.values():
        n.bootstrap(conf)
    net.send()
    run(net)
    return script
