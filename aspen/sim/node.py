"""One simulated node: the real ``RawNode`` driven by the book, over storage that survives crashes.

:class:`SimNode` is the simulator's node driver. Its Readies go through the same
:class:`~aspen.raft.ready_processor.ReadyProcessor` as the production driver's; the node is that
processor's store (``write_ready``: persist and apply, with the invariant checks) and outcomes
(proposals answered, reads served, roles reported to the host). With ``fsync_ns > 0`` the
durable write takes virtual time, and a crash in that window loses the Ready's writes after its
``messages`` already left: exactly the window the order is designed to make safe.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from aspen.kv import commands
from aspen.kv.commands import CommandResult
from aspen.kv.state_machine import MemoryKV
from aspen.raft import RaftConfig, RawNode
from aspen.raft.messages import ConfState, Entry, EntryKind, HardState, Message, Snapshot
from aspen.raft.ready import Role, SoftState
from aspen.raft.ready_processor import ReadyProcessor, Step
from aspen.raft.storage import MemoryStorage
from aspen.sim.invariants import Invariants

if TYPE_CHECKING:
    from aspen.sim.client import Op
    from aspen.sim.scheduler import Scheduler

    SimProcessor: TypeAlias = ReadyProcessor[RawNode, CommandResult | None, Op]


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
    processor: type[SimProcessor] = ReadyProcessor
    """What handles each incarnation's Readies: the production one (a test may plant a bug)."""


class NodeHost:
    """What a node needs from its cluster. ``Cluster`` implements it; tests may fake it."""

    sched: Scheduler
    inv: Invariants

    def send(self, msg: Message) -> None:
        raise NotImplementedError

    def on_apply(self, node: SimNode, entry: Entry, result: CommandResult | None) -> None:
        """``node`` applied ``entry`` (every entry; ``result`` is None unless a KV command)."""
        raise NotImplementedError

    def on_answer(self, node: SimNode, op: Op, entry: Entry, result: CommandResult | None) -> None:
        """``node`` applied ``op``'s own entry (the index and term it was proposed at)."""
        raise NotImplementedError

    def on_replaced(self, node: SimNode, op: Op, entry: Entry) -> None:
        """``node`` applied another leader's ``entry`` at ``op``'s index."""
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
        self.processor: SimProcessor | None = None
        self.kv = MemoryKV()
        self.conf = ConfState()
        self.epoch = 0
        """Incarnation number; bumps at every crash so stale events and messages are dropped."""
        self.role = Role.FOLLOWER
        """The role as of the last Ready handled (the core may be ahead while one is in flight)."""
        self.role_term = 0
        """The term in which ``role`` was taken."""
        self.persisted_commit = 0
        self._ready_scheduled = False
        self._in_flight: Step | None = None
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
        self.processor = self.options.processor(self.raw, self, self.host, self, applied=kv.applied)
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
        self.processor = None
        self.kv = MemoryKV()
        self.epoch += 1
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

    def expect(self, op: Op) -> None:
        """Answer ``op`` (proposed here at ``op.index`` in ``op.term``) once it is applied."""
        processor = self.processor
        assert processor is not None
        processor.expect(op.index, op.term, op)

    # --- the Ready loop -------------------------------------------------------------------------

    def _ready_event(self, epoch: int) -> None:
        if epoch != self.epoch:
            return
        self._ready_scheduled = False
        processor = self.processor
        if processor is None or self._in_flight is not None:
            return
        step = processor.begin()
        if step is None:
            return
        if self.options.fsync_ns:
            self._in_flight = step
            self.host.sched.after(self.options.fsync_ns, self._persisted_event, step, epoch)
        else:
            self._finish(processor, step)

    def _persisted_event(self, step: Step, epoch: int) -> None:
        if epoch != self.epoch or self.processor is None:
            return  # crashed before the write became durable: it never happened
        self._in_flight = None
        self._finish(self.processor, step)

    def _finish(self, processor: SimProcessor, step: Step) -> None:
        processor.finish(step, step.write(self))
        raw = self.raw  # None if applying retired this very node (the host crashes it)
        if raw is not None and raw.has_ready():
            self.kick()

    # --- the processor's store: the durable image ------------------------------------------------

    def write_ready(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        committed: Sequence[Entry],
        conf_state: ConfState | None,
    ) -> list[CommandResult | None]:
        """Persist, then apply (both checked by the invariants), as one instant."""
        storage = self.storage
        inv = self.host.inv
        if snapshot is not None:
            inv.before_snapshot(self.id, storage, snapshot)
            storage.apply_snapshot(snapshot)
            inv.on_snapshot(self.id, snapshot)
        if entries:
            batch = list(entries)
            inv.before_append(self.id, storage, batch)
            storage.append(batch)
            inv.after_append(self.id, storage, batch)
        if hard_state is not None:
            storage.set_hard_state(hard_state)
            if hard_state.commit != self.persisted_commit:
                inv.on_commit(
                    self.id, hard_state.term, storage, self.persisted_commit, hard_state.commit
                )
                self.persisted_commit = hard_state.commit
        if snapshot is not None:
            self._restore(snapshot)
        results = self._apply(committed)
        if conf_state is not None:
            self.conf = conf_state
            storage.set_conf_state(conf_state)
        return results

    def _restore(self, snap: Snapshot) -> None:
        kv = self.kv
        kv.restore(snap.data)
        if kv.applied != snap.meta.index:
            self.host.inv.fail(
                f"node {self.id} snapshot at {snap.meta.index} holds state applied to {kv.applied}"
            )
        self.conf = snap.meta.conf_state
        self.snapshots_installed += 1
        if not self.options.sm_sync:
            self._save_sm()

    def _apply(self, committed: Sequence[Entry]) -> list[CommandResult | None]:
        kv = self.kv
        inv = self.host.inv
        check, decode, apply = inv.on_apply, commands.decode, kv.apply
        node_id = self.id
        results: list[CommandResult | None] = []
        for e in committed:
            if e.index != kv.applied + 1:
                inv.fail(f"node {node_id} applied {kv.applied}, handed entry {e.index} next")
            check(node_id, e)
            if e.kind is EntryKind.CONF_CHANGE or not e.data:
                kv.mark_applied(e.index)
                results.append(None)
            else:
                results.append(apply(e.index, decode(e.data)))
        return results

    # --- the processor's outcomes: the host hears them ------------------------------------------

    def applied(
        self, applied: int, entries: Sequence[Entry], results: Sequence[CommandResult | None]
    ) -> None:
        if not entries:
            return
        on_apply = self.host.on_apply
        for e, result in zip(entries, results, strict=True):
            on_apply(self, e, result)
        self._maybe_snapshot()

    def proposal_applied(self, waiter: Op, entry: Entry, result: CommandResult | None) -> None:
        self.host.on_answer(self, waiter, entry, result)

    def proposal_replaced(self, waiter: Op, entry: Entry) -> None:
        self.host.on_replaced(self, waiter, entry)

    def read_ready(self, context: bytes, index: int) -> None:
        self.host.on_read(self, context)

    def role_changed(self, soft: SoftState, term: int) -> None:
        if soft.role != self.role:
            self.role = soft.role
            self.role_term = term
            self.host.on_role(self, self.role, term)

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
