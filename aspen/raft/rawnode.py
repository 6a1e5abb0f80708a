"""The driver's handle on the Raft core (etcd's ``rawnode.go``).

Five verbs drive it: ``tick()``, ``step(msg)``, ``has_ready()``, ``ready()``, ``advance(rd)``.
The rest (``propose``, ``read_index``, ...) are inputs whose effects surface in a later Ready.
Nothing here performs I/O; see :class:`aspen.raft.ready.Ready` for the order in which the driver
must carry out a Ready.

Points a driver relies on:

* ``committed_entries`` only ever holds entries persisted by an EARLIER Ready (so an entry is
  never applied before it is durable); the leader too counts its own copy of an entry toward the
  commit only once ``advance`` reported it persisted.
* ``step``, ``tick`` and the proposal verbs may be called between ``ready()`` and ``advance()``
  (e.g. while the write is in flight); their effects surface in the next Ready.
* Sends are batched: proposals and acknowledgements handled since the last Ready share one
  AppendEntries per follower, built when ``has_ready()``/``ready()`` is called.
* After ``bootstrap`` the node will not campaign until it applied entry 1 (a node never campaigns
  while a committed membership change is unapplied: its configuration could be stale).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from types import MappingProxyType

from aspen.raft import confchange, validate
from aspen.raft.config import RaftConfig
from aspen.raft.errors import PeerProtocolError, RaftError
from aspen.raft.messages import (
    NONE,
    ConfChange,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Message,
)
from aspen.raft.raft import Raft
from aspen.raft.ready import Ready, Role, SoftState
from aspen.raft.status import PeerProgress, Status
from aspen.raft.storage import Storage


class RawNode:
    """One Raft node as a pure state machine: inputs in, :class:`Ready` batches out."""

    __slots__ = ("_prev_hard", "_prev_soft", "_rejected", "raft")

    def __init__(self, config: RaftConfig, storage: Storage, rng: random.Random) -> None:
        """Restore term, vote, commit and configuration from ``storage``; start as follower."""
        self.raft = Raft(config, storage, rng)
        """The core itself (tests and status only; drive the node through RawNode)."""
        r = self.raft
        self._prev_soft = SoftState(r.lead, r.role)
        self._prev_hard = HardState(r.term, r.vote, r.log.committed)
        self._rejected: dict[str, int] = dict.fromkeys(validate.CHECKS, 0)

    # --- inputs ----------------------------------------------------------------------------------

    def bootstrap(self, conf: ConfState) -> None:
        """Start a brand-new cluster: log entry 1 holds ``conf`` as a change, committed at once.

        Only on an empty node. The configuration takes effect immediately; when the driver later
        applies entry 1 (it comes back in ``committed_entries`` once persisted),
        ``apply_conf_change`` finds nothing to change.
        """
        r = self.raft
        if r.log.last_index() != 0 or r.term != 0 or r.tracker.conf.all_nodes():
            raise RaftError("bootstrap needs an empty node (no log, no term, no configuration)")
        change = confchange.from_conf_state(conf)
        r.become_follower(1, NONE)
        r.log.append([Entry(1, 1, EntryKind.CONF_CHANGE, change.encode())])
        r.log.commit_to(1)
        r.switch_to_config(confchange.apply(ConfState(), change))

    def tick(self) -> None:
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now (pre-vote first if enabled). Ignored on a leader, a non-voter,
        or while committed membership changes await application."""
        self.raft.hup()

    def step(self, msg: Message) -> None:
        """Feed one peer message. A message no correct peer can send is rejected with
        :class:`PeerProtocolError` and counted in :attr:`rejected`; the state is unchanged."""
        try:
            self.raft.step(msg)
        except PeerProtocolError as e:
            self._rejected[e.kind] = self._rejected.get(e.kind, 0) + 1
            raise

    @property
    def rejected(self) -> Mapping[str, int]:
        """Peer messages rejected so far, by check (``PeerProtocolError.kind``; every check of
        ``aspen.raft.validate.CHECKS`` is present, from 0). Read-only."""
        return MappingProxyType(self._rejected)

    def propose(self, data: bytes) -> int:
        """Leader only: append ``data`` and return its index (NotLeader / ProposalDropped)."""
        return self.raft.propose(data)

    def propose_membership(self, change: ConfChange) -> int:
        """Leader only: append a membership change (one at a time; see ``confchange``)."""
        return self.raft.propose_membership(change)

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        """The driver is applying a committed CONF_CHANGE entry; returns the new ConfState."""
        return self.raft.apply_conf_change(change)

    def read_index(self, context: bytes) -> None:
        """Leader only: a linearizable read; a later Ready carries ``ReadState(index, context)``."""
        self.raft.read_index(context)

    def transfer_leadership(self, target: int) -> None:
        self.raft.transfer_leadership(target)

    def report_unreachable(self, node: int) -> None:
        """The transport failed to reach ``node``: stop pipelining to it, probe instead."""
        self.raft.report_unreachable(node)

    # --- output ----------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        r = self.raft
        r.flush_broadcast()
        soft, hard = self._prev_soft, self._prev_hard
        return bool(
            r.msgs
            or r.msgs_after_persist
            or r.log.unstable.entries
            or r.log.unstable.snapshot is not None
            or r.read_states
            or soft.leader != r.lead
            or soft.role is not r.role
            or hard.term != r.term
            or hard.vote != r.vote
            or hard.commit != r.log.committed
            or r.log.has_next_committed_entries()
        )

    def ready(self) -> Ready:
        """Everything to do now; the caller MUST follow the order documented on Ready, then
        call ``advance`` with this very object before the next ``ready()``."""
        r = self.raft
        r.flush_broadcast()
        log = r.log
        rd = Ready(
            entries=list(log.unstable.entries),
            snapshot=log.unstable.snapshot,
            messages=r.msgs,
            persisted_messages=r.msgs_after_persist,
            committed_entries=log.next_committed_entries(),
            read_states=r.read_states,
        )
        if rd.committed_entries:
            log.applying = rd.committed_entries[-1].index
        r.msgs = []
        r.msgs_after_persist = []
        r.read_states = []
        soft = self._prev_soft
        if soft.leader != r.lead or soft.role is not r.role:
            rd.soft_state = self._prev_soft = SoftState(r.lead, r.role)
        hard = self._prev_hard
        if hard.term != r.term or hard.vote != r.vote or hard.commit != log.committed:
            rd.hard_state = self._prev_hard = HardState(r.term, r.vote, log.committed)
        return rd

    def advance(self, rd: Ready) -> None:
        """The driver did everything ``rd`` asked: mark it durable and applied."""
        r = self.raft
        log = r.log
        if rd.snapshot is not None:
            log.stable_snap_to(rd.snapshot.meta.index)
        if rd.entries:
            # Usually the last one; if a new leader replaced part of the tail since ready(),
            # the highest entry that is still ours (the replaced ones are handed out again).
            unstable = log.unstable
            for e in reversed(rd.entries):
                if unstable.maybe_term(e.index) == e.term:
                    log.stable_to(e.index, e.term)
                    break
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)
        elif rd.snapshot is not None and rd.snapshot.meta.index > log.applied:
            log.applied_to(rd.snapshot.meta.index)
        r.on_persisted()

    # --- introspection ---------------------------------------------------------------------------

    def status(self) -> Status:
        r = self.raft
        progress: dict[int, PeerProgress] = {}
        if r.role is Role.LEADER:
            for node, pr in r.tracker.progress.items():
                progress[node] = PeerProgress(pr.match, pr.next, pr.state.value, pr.recent_active)
        return Status(
            id=r.id,
            term=r.term,
            vote=r.vote,
            commit=r.log.committed,
            applied=r.log.applied,
            leader=r.lead,
            role=r.role,
            conf_state=r.tracker.conf,
            progress=progress,
            lead_transferee=r.lead_transferee,
        )

    @property
    def id(self) -> int:
        return self.raft.id

    @property
    def term(self) -> int:
        return self.raft.term

    @property
    def leader(self) -> int:
        return self.raft.lead

    @property
    def role(self) -> Role:
        return self.raft.role

    @property
    def commit(self) -> int:
        return self.raft.log.committed

    @property
    def applied(self) -> int:
        return self.raft.log.applied

    @property
    def conf_state(self) -> ConfState:
        return self.raft.tracker.conf
