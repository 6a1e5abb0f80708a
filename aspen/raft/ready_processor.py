"""The one way a node turns the core's Readies into effects (``Ready``'s contract, in code).

The production driver (``aspen.node.driver``), the simulator's node (``aspen.sim.node``) and the
core's test harness (``tests/raft/harness.py``) all hand their Readies to a
:class:`ReadyProcessor`; what differs between them is only what sits behind its three narrow
interfaces: the :class:`ReadyStore` (an LMDB transaction, an in-memory image the simulator can
lose in a crash), the :class:`Transport` (TCP, a simulated network, a list) and the
:class:`Outcomes` (futures of HTTP handlers, simulated clients). The clock is not among them:
handling a Ready takes no time of its own; the callers own time (ticks, timeouts, the length
of the fsync window).

No I/O happens here, so the durable write is the caller's to perform, in two halves around it::

    step = processor.begin()          # 1. messages sent; the write computed
    results = store.write_ready(...)  # 2. durable (awaited in a thread, or after a simulated
                                      #    fsync window, or inline: ``processor.run``)
    processor.finish(step, results)   # 3.-6. persisted messages, apply, answers, reads, advance

A crash between the two halves (the simulator's fsync window) simply never calls ``finish``.

Two orderings are decided here once for every caller, after etcd's raft:

* **A membership change takes effect in the core when its entry is applied**: after the write
  that makes it part of the applied state, together with the entries around it, in log order
  (etcd's ``ApplyConfChange`` is called by the application while applying committed entries).
  The configuration the store records with the applied state is computed before the write with
  the same pure function the core uses (``confchange.apply``), and the core's answer must equal
  it.
* **An InvariantViolation is never caught here**: it means this node's own state broke Raft, so
  the caller must stop the node (the driver exits non-zero; the simulator fails the run). The
  same goes for entries handed out of order and for a configuration that differs from the one
  written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from aspen.raft import confchange
from aspen.raft.errors import InvariantViolation
from aspen.raft.messages import ConfChange, ConfState, Entry, EntryKind, HardState, Message
from aspen.raft.messages import Snapshot as RaftSnapshot
from aspen.raft.ready import Ready, SoftState

R = TypeVar("R")
"""What applying one committed entry returns (None for entries that hold no command)."""
W = TypeVar("W")
"""A waiter parked on a proposal's index (a future, a simulated client's operation)."""
R_co = TypeVar("R_co", covariant=True)
R_contra = TypeVar("R_contra", contravariant=True)
W_contra = TypeVar("W_contra", contravariant=True)


class Core(Protocol):
    """What the processor needs of the core (``RawNode`` is the one production uses)."""

    @property
    def term(self) -> int: ...

    @property
    def conf_state(self) -> ConfState: ...

    def has_ready(self) -> bool: ...

    def ready(self) -> Ready: ...

    def apply_conf_change(self, change: ConfChange) -> ConfState: ...

    def advance(self, rd: Ready) -> None: ...


C = TypeVar("C", bound=Core)


class ReadyStore(Protocol[R_co]):
    """Makes steps 2 and 4 of a Ready durable: persist, then apply, in one write where possible.

    Persist ``snapshot`` (restoring the state machine from it), then ``entries``, then
    ``hard_state``; then apply ``committed`` in order and record ``conf_state`` (not None when
    the membership changed) with the applied state. Returns one result per committed entry.
    """

    def write_ready(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: RaftSnapshot | None,
        committed: Sequence[Entry],
        conf_state: ConfState | None,
    ) -> Sequence[R_co]: ...


class Transport(Protocol):
    def send(self, msg: Message) -> None: ...


class Outcomes(Protocol[R_contra, W_contra]):
    """What a node does with the effects of a handled Ready (answer callers, report)."""

    def applied(self, applied: int, entries: Sequence[Entry], results: Sequence[R_contra]) -> None:
        """The state machine reached ``applied`` (through a snapshot and/or ``entries``)."""

    def proposal_applied(self, waiter: W_contra, entry: Entry, result: R_contra) -> None:
        """The proposal ``waiter`` waits for was applied (its index, its term): it is ok."""

    def proposal_replaced(self, waiter: W_contra, entry: Entry) -> None:
        """Another leader's ``entry`` took the proposal's index: it definitely did not happen."""

    def read_ready(self, context: bytes, index: int) -> None:
        """The read ``context`` may be served now: its read index is applied."""

    def role_changed(self, soft: SoftState, term: int) -> None:
        """The Ready just handled changed the role or the leader (in ``term``)."""


@dataclass(slots=True)
class Step:
    """One Ready between ``begin`` and ``finish``: its durable write is the caller's to do."""

    ready: Ready
    term: int
    """The core's term when the Ready was taken (the core may move on during the write)."""
    conf_state: ConfState | None
    """The membership the store records with the applied state (None: unchanged)."""
    confs: list[ConfState]
    """The configuration after each committed CONF_CHANGE entry, in order."""
    durable: bool
    """Whether there is anything to write (heartbeat- and read-only Readies skip the disk)."""

    def write(self, store: ReadyStore[R]) -> Sequence[R]:
        """Do the durable write of this step on ``store`` (nothing, if not ``durable``)."""
        if not self.durable:
            return []
        rd = self.ready
        return store.write_ready(
            rd.hard_state, rd.entries, rd.snapshot, rd.committed_entries, self.conf_state
        )


class ReadyProcessor(Generic[C, R, W]):
    """Honours ``Ready``'s contract for one ``RawNode`` (see the module docstring).

    ``node`` may be replaced (a driver rebuilds its core from storage); the waiters and reads
    parked here outlive it. ``applied`` is the state machine's applied index.
    """

    def __init__(
        self,
        node: C,
        store: ReadyStore[R],
        transport: Transport,
        outcomes: Outcomes[R, W],
        *,
        applied: int,
    ) -> None:
        self.node = node
        self.store = store
        self.transport = transport
        self.outcomes = outcomes
        self.applied = applied
        self._waiters: dict[int, tuple[int, W]] = {}
        self._reads: list[tuple[int, bytes]] = []
        """Confirmed reads whose index is not applied yet: ``(index, context)``."""

    # --- proposals ------------------------------------------------------------------------------

    def expect(self, index: int, term: int, waiter: W) -> None:
        """Answer ``waiter`` when the entry at ``index`` is applied: ok if it is the one
        proposed in ``term``, replaced if another leader's entry took the index."""
        self._waiters[index] = (term, waiter)

    def forget(self, index: int, waiter: W) -> None:
        """``waiter`` gave up on ``index`` (its outcome is unknown); a later proposal parked on
        the same index (after a change of leader) stays."""
        parked = self._waiters.get(index)
        if parked is not None and parked[1] is waiter:
            del self._waiters[index]

    def take_waiters(self) -> list[W]:
        """Remove and return every waiter still parked, in index order (to fail them)."""
        waiters = [w for _, (_, w) in sorted(self._waiters.items())]
        self._waiters.clear()
        return waiters

    # --- the Ready ------------------------------------------------------------------------------

    def run(self) -> None:
        """Handle every Ready the core has now, with the durable write done inline."""
        while (step := self.begin()) is not None:
            self.finish(step, step.write(self.store))

    def begin(self) -> Step | None:
        """Take the next Ready (None if none), send its ``messages`` and compute its write."""
        node = self.node
        if not node.has_ready():
            return None
        rd = node.ready()
        term = node.term
        confs: list[ConfState] = []
        conf = rd.snapshot.meta.conf_state if rd.snapshot is not None else node.conf_state
        for e in rd.committed_entries:
            if e.kind is EntryKind.CONF_CHANGE:
                conf = confchange.apply(conf, ConfChange.decode(e.data))
                confs.append(conf)
        changed = confs[-1] if confs else None
        if changed is None and rd.snapshot is not None:
            changed = rd.snapshot.meta.conf_state
        send = self.transport.send
        for m in rd.messages:
            send(m)
        durable = bool(rd.hard_state or rd.entries or rd.snapshot or rd.committed_entries)
        return Step(rd, term, changed, confs, durable)

    def finish(self, step: Step, results: Sequence[R]) -> None:
        """After ``step``'s write is durable: the rest of the contract, then ``advance``."""
        rd = step.ready
        send = self.transport.send
        for m in rd.persisted_messages:
            send(m)
        self._apply(step, results)
        if rd.read_states:
            self._reads.extend((rs.index, rs.context) for rs in rd.read_states)
        if self._reads:
            self._serve_reads()
        self.node.advance(rd)
        if rd.soft_state is not None:
            self.outcomes.role_changed(rd.soft_state, step.term)

    def _apply(self, step: Step, results: Sequence[R]) -> None:
        rd = step.ready
        entries = rd.committed_entries
        if rd.snapshot is not None:
            self.applied = max(self.applied, rd.snapshot.meta.index)
        if not entries:
            if rd.snapshot is not None:
                self.outcomes.applied(self.applied, entries, results)
            return
        if len(results) != len(entries):
            raise InvariantViolation(f"{len(entries)} entries applied with {len(results)} results")
        confs = iter(step.confs)
        for e in entries:
            if e.index != self.applied + 1:
                raise InvariantViolation(f"applied {self.applied}, handed entry {e.index} next")
            self.applied = e.index
            if e.kind is EntryKind.CONF_CHANGE:
                written = next(confs)
                now = self.node.apply_conf_change(ConfChange.decode(e.data))
                if now != written:
                    raise InvariantViolation(f"entry {e.index}: core at {now}, wrote {written}")
        self.outcomes.applied(self.applied, entries, results)
        if self._waiters:
            self._answer(entries, results)

    def _answer(self, entries: Sequence[Entry], results: Sequence[R]) -> None:
        outcomes = self.outcomes
        for e, result in zip(entries, results, strict=True):
            parked = self._waiters.pop(e.index, None)
            if parked is None:
                continue
            term, waiter = parked
            if e.term == term:
                outcomes.proposal_applied(waiter, e, result)
            else:
                outcomes.proposal_replaced(waiter, e)

    def _serve_reads(self) -> None:
        applied = self.applied
        if all(index > applied for index, _ in self._reads):
            return
        ready = [(i, c) for i, c in self._reads if i <= applied]
        self._reads = [(i, c) for i, c in self._reads if i > applied]
        for index, context in ready:
            self.outcomes.read_ready(context, index)
