"""One simulated node: the real ``RawNode`` driven by the book, over storage that survives crashes.

:class:`SimNode` is the simulator's node driver. It follows ``Ready``'s order exactly (see
``aspen.raft.ready``): send ``messages``, persist snapshot/entries/hard state, only then send
``persisted_messages``, apply, serve reads, ``advance``. With ``fsync_ns > 0`` the persist step
takes virtual time, and a crash in that window loses the Ready's writes after its ``messages``
already left: exactly the window the order is designed to make safe.

What survives a crash (the node's durable image):

* ``storage``: a ``MemoryStorage`` holding exactly what was persisted (log, hard state, snapshot,
  the configuration of the applied entries);
* ``durable_sm``: the state machine's own image, ``(applied, data, conf_state)`` written in one
  transaction. With ``sm_sync`` it is rewritten after every applied batch (an LMDB-style state
  machine); without, only when a snapshot is taken, so a restart replays the log from there.

Everything else (the ``RawNode``, the live ``MemoryKV``, reads waiting, messages addressed to
the node that are still in flight) is lost. A restart restores the newer of ``durable_sm`` and
the Raft snapshot, and builds a new ``RawNode`` with ``applied`` set to that image's index.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aspen.kv import commands
from aspen.kv.commands import CommandResult
from aspen.kv.state_machine import MemoryKV
from aspen.raft import RaftConfig, RawNode
from aspen.raft.messages import ConfChange, ConfState, Entry, EntryKind, Message
from aspen.raft.ready import Ready, Role
from aspen.raft.storage import MemoryStorage
from aspen.sim.invariants import Invariants

if TYPE_CHECKING:
    from aspen.sim.scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class SMImage:
    """The state machine's durable image: data and configuration as of ``applied``."""

    applied: int = 0
    data: tuple[tuple[str, str], ...] = ()
    conf_state: ConfState = field(default_factory=ConfState)


@dataclass(slots=True)
class NodeOptions:
    """How every node of a cluster is driven (not Raft's knobs: those are ``raft``)."""

    raft: RaftConfig
    """Template; ``id`` and ``applied`` are replaced per node and incarnation."""
    fsync_ns: int = 0
    """Virtual time the persist step of a Ready takes (0 = inline)."""
    sm_sync: bool = True
    """Persist the state machine with every applied batch (else only at snapshots)."""
    snapshot_every: int = 0
    """Take a snapshot once this many entries were applied since the last one (0 = never)."""
    keep_entries: int = 0
    """Entries kept in the log below a new snapshot, for followers that are a little behind."""


class NodeHost:
    """What a node needs from its cluster. ``Cluster`` implements it; tests may fake it."""

    sched: Scheduler
    inv: Invariants

    def send(self, msg: Message) -> None:
        raise NotImplementedError

    def on_apply(self, node: SimNode, entry: Entry, result: CommandResult | None) -> None:
        """``node`` applied ``entry`` (every entry; ``result`` is None unless a KV command)."""
        raise NotImplementedError

    def on_read(self, node: SimNode, context: bytes) -> None:
        raise NotImplementedError

    def on_role(self, node: SimNode, role: Role, term: int) -> None:
        raise NotImplementedError


class SimNode:
    """One node id: durable storage plus, while up, a ``RawNode`` and a live state machine."""

    def __init__(
        self, node_id: int, host: NodeHost, options: NodeOptions, rng: random.Random
    ) -> None:
        self.id = node_id
        self.host = host
        self.options = options
        self.rng = rng
        """Seeds each incarnation's core RNG."""
        # durable
        self.storage = MemoryStorage()
        self.durable_sm = SMImage()
        # volatile
        self.raw: RawNode | None = None
        self.kv = MemoryKV()
        self.conf = ConfState()
        self.epoch = 0
        """Incarnation number; bumps at every crash so stale events and messages are dropped."""
        self.role = Role.FOLLOWER
        """The role as of the last Ready handled (the core may be ahead while one is in flight)."""
        self.role_term = 0
        """The term in which ``role`` was taken."""
        self.persisted_commit = 0
        self._reads: list[tuple[int, bytes]] = []
        self._ready_scheduled = False
        self._in_flight: Ready | None = None
        self.retired = False
        self.restarts = 0
        self.snapshots_installed = 0

    @property
    def up(self) -> bool:
        return self.raw is not None

    def core(self) -> RawNode:
        raw = self.raw
        if raw is None:
            raise RuntimeError(f"node {self.id} is down")
        return raw

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, bootstrap: ConfState | None = None) -> None:
        """Build a ``RawNode`` over the durable image (first start or restart)."""
        assert self.raw is None
        snap = self.storage.snapshot()
        image = self.durable_sm
        kv = MemoryKV()
        if snap.meta.index > image.applied:
            kv.restore(snap.data)
            conf = snap.meta.conf_state
        else:
            kv.data = dict(image.data)
            kv.applied = image.applied
            conf = image.conf_state
        # The configuration is persisted with the state machine image it belongs to.
        self.storage.set_conf_state(conf)
        self.kv = kv
        self.conf = conf
        self.persisted_commit = self.storage.hard_state.commit
        cfg = self.options.raft
        config = RaftConfig(
            id=self.id,
            election_tick=cfg.election_tick,
            heartbeat_tick=cfg.heartbeat_tick,
            max_size_per_msg=cfg.max_size_per_msg,
            max_entries_per_msg=cfg.max_entries_per_msg,
            max_inflight_msgs=cfg.max_inflight_msgs,
            pre_vote=cfg.pre_vote,
            check_quorum=cfg.check_quorum,
            snapshot_chunk_size=cfg.snapshot_chunk_size,
            max_inflight_snapshot_chunks=cfg.max_inflight_snapshot_chunks,
            applied=kv.applied,
        )
        self.raw = RawNode(config, self.storage, random.Random(self.rng.getrandbits(64)))
        self.role = Role.FOLLOWER
        if bootstrap is not None:
            self.raw.bootstrap(bootstrap)
        self.kick()

    def crash(self) -> None:
        """Lose everything volatile; keep ``storage`` and ``durable_sm``."""
        if self.options.sm_sync and self.raw is not None:
            # With sm_sync every applied batch is durable, and a batch is applied within one
            # event, so the image at a crash is exactly the live state machine: copy it once
            # here instead of after every batch.
            self._save_sm()
        self.raw = None
        self.kv = MemoryKV()
        self.epoch += 1
        self._reads = []
        self._ready_scheduled = False
        self._in_flight = None
        self.role = Role.FOLLOWER
        self.role_term = 0

    # --- inputs ---------------------------------------------------------------------------------

    def kick(self) -> None:
        """Handle the core's output at the current instant (once, after all inputs so far)."""
        if not self._ready_scheduled and self.raw is not None:
            self._ready_scheduled = True
            self.host.sched.after(0, self._ready_event, self.epoch)

    def tick(self) -> None:
        self.core().tick()
        self.kick()

    def step(self, msg: Message) -> None:
        self.core().step(msg)
        self.kick()

    def call(self, fn: Callable[[RawNode], int | None]) -> int | None:
        """Run one input against the core (propose, read_index, ...) and schedule its output."""
        try:
            return fn(self.core())
        finally:
            self.kick()

    # --- the Ready loop -------------------------------------------------------------------------

    def _ready_event(self, epoch: int) -> None:
        if epoch != self.epoch:
            return
        self._ready_scheduled = False
        raw = self.raw
        if raw is None or self._in_flight is not None or not raw.has_ready():
            return
        rd = raw.ready()
        term = raw.term  # the term this Ready belongs to (the core may move on during fsync)
        send = self.host.send
        for m in rd.messages:
            send(m)
        if self.options.fsync_ns:
            self._in_flight = rd
            self.host.sched.after(self.options.fsync_ns, self._persisted_event, rd, term, epoch)
        else:
            self._finish(rd, term)

    def _persisted_event(self, rd: Ready, term: int, epoch: int) -> None:
        if epoch != self.epoch:
            return  # crashed before the write became durable: it never happened
        self._in_flight = None
        self._finish(rd, term)

    def _finish(self, rd: Ready, term: int) -> None:
        raw = self.core()
        self._persist(rd)
        send = self.host.send
        for m in rd.persisted_messages:
            send(m)
        self._apply(rd)
        if rd.read_states:
            self._reads.extend((rs.index, rs.context) for rs in rd.read_states)
        if self._reads:
            self._serve_reads()
        raw.advance(rd)
        if rd.soft_state is not None and rd.soft_state.role != self.role:
            self.role = rd.soft_state.role
            self.role_term = term
            self.host.on_role(self, self.role, term)
        if raw.has_ready():
            self.kick()

    def _persist(self, rd: Ready) -> None:
        storage = self.storage
        inv = self.host.inv
        if rd.snapshot is not None:
            inv.before_snapshot(self.id, storage, rd.snapshot)
            storage.apply_snapshot(rd.snapshot)
            inv.on_snapshot(self.id, rd.snapshot)
        if rd.entries:
            inv.before_append(self.id, storage, rd.entries)
            storage.append(rd.entries)
            inv.after_append(self.id, storage, rd.entries)
        hs = rd.hard_state
        if hs is not None:
            storage.set_hard_state(hs)
            if hs.commit != self.persisted_commit:
                inv.on_commit(self.id, hs.term, storage, self.persisted_commit, hs.commit)
                self.persisted_commit = hs.commit

    def _apply(self, rd: Ready) -> None:
        kv = self.kv
        host = self.host
        inv = self.host.inv
        if rd.snapshot is not None:
            snap = rd.snapshot
            kv.restore(snap.data)
            if kv.applied != snap.meta.index:
                inv.fail(
                    f"node {self.id} snapshot at {snap.meta.index} holds state applied to "
                    f"{kv.applied}"
                )
            self.conf = snap.meta.conf_state
            self.snapshots_installed += 1
            if not self.options.sm_sync:
                self._save_sm()
        if not rd.committed_entries:
            return
        raw = self.core()
        on_apply, check, decode, apply = host.on_apply, inv.on_apply, commands.decode, kv.apply
        node_id = self.id
        for e in rd.committed_entries:
            if e.index != kv.applied + 1:
                inv.fail(f"node {node_id} applied {kv.applied}, handed entry {e.index} next")
            check(node_id, e)
            if e.kind is EntryKind.CONF_CHANGE:
                kv.mark_applied(e.index)
                self.conf = raw.apply_conf_change(ConfChange.decode(e.data))
                self.storage.set_conf_state(self.conf)
                on_apply(self, e, None)
            elif e.data:
                on_apply(self, e, apply(e.index, decode(e.data)))
            else:
                kv.mark_applied(e.index)
                on_apply(self, e, None)
        self._maybe_snapshot()

    def _save_sm(self) -> None:
        kv = self.kv
        self.durable_sm = SMImage(kv.applied, tuple(kv.data.items()), self.conf)

    def _maybe_snapshot(self) -> None:
        every = self.options.snapshot_every
        if every and self.kv.applied - self.storage.snapshot().meta.index >= every:
            self.take_snapshot()

    def take_snapshot(self) -> None:
        """Snapshot the state machine at its applied index and compact the log below it."""
        kv = self.kv
        if kv.applied <= self.storage.snapshot().meta.index:
            return
        snap = self.storage.create_snapshot(kv.applied, self.conf, kv.snapshot())
        self.host.inv.on_snapshot(self.id, snap)
        if not self.options.sm_sync:
            self._save_sm()
        self.storage.compact(max(kv.applied - self.options.keep_entries, 0))

    def _serve_reads(self) -> None:
        applied = self.kv.applied
        ready = [ctx for index, ctx in self._reads if index <= applied]
        if ready:
            self._reads = [(i, c) for i, c in self._reads if i > applied]
            for ctx in ready:
                self.host.on_read(self, ctx)
