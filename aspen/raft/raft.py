"""The Raft state machine of one node: terms, votes, roles and membership (etcd's ``raft.go``).

This module owns every ROLE CHANGE (``become_follower/pre_candidate/candidate/leader``; each
swaps ``step_fn``), the term rules common to all roles (:meth:`Raft.step`), voting, ticking and
the switch to a new configuration. What each role does with a message lives in
:mod:`aspen.raft.roles`; the leader's sending machinery in :mod:`aspen.raft.replication`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from aspen.raft import confchange, replication, roles, validate
from aspen.raft.config import RaftConfig
from aspen.raft.errors import InvariantViolation, NotLeader, ProposalDropped, RaftError
from aspen.raft.log import RaftLog
from aspen.raft.messages import (
    NONE,
    AppendEntries,
    AppendEntriesResponse,
    ConfChange,
    ConfState,
    Entry,
    EntryKind,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
)
from aspen.raft.progress import ProgressState
from aspen.raft.quorum import VoteResult
from aspen.raft.read_only import ReadOnly
from aspen.raft.ready import ReadState, Role
from aspen.raft.snapshot_transfer import SnapshotReceiver
from aspen.raft.storage import Storage
from aspen.raft.tracker import ProgressTracker

StepFn = Callable[["Raft", Message], None]

_AFTER_PERSIST: frozenset[type] = frozenset(
    {RequestVoteResponse, AppendEntriesResponse, HeartbeatResponse, InstallSnapshotResponse}
)
"""Responses promise something about our disk: they wait until the Ready is persisted."""


class Raft:
    """One node's consensus state. Driven through :class:`aspen.raft.rawnode.RawNode`."""

    def __init__(self, config: RaftConfig, storage: Storage, rng: random.Random) -> None:
        self.id = config.id
        self.cfg = config
        self.rng = rng
        self.log = RaftLog(storage)
        self.tracker = ProgressTracker(config.max_inflight_msgs)

        self.term = 0
        self.vote = NONE
        """Whom we voted for in ``term``. Invariant: persisted before any vote is sent."""
        self.lead = NONE
        self.role = Role.FOLLOWER
        self.step_fn: StepFn = roles.step_follower

        self.election_elapsed = 0
        """Ticks since we last heard from a leader (follower) or since the last quorum check."""
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_tick

        self.lead_transferee = NONE
        """Leader only: the node we are handing leadership to (proposals are dropped)."""
        self.pending_conf_index = 0
        """Leader only: index of the last membership entry it appended (or its last index when
        elected). Invariant: a new change is accepted only once ``applied >= pending_conf_index``.
        """
        self.read_only = ReadOnly()
        self.pending_reads: list[bytes] = []
        """Reads that arrived before the leader committed an entry of its own term (§6.4)."""
        self.read_states: list[ReadState] = []
        self.snap_recv: SnapshotReceiver | None = None

        self.msgs: list[Message] = []
        self.msgs_after_persist: list[Message] = []
        self.bcast_pending = False
        """Leader: every follower is owed what it lacks, even if only the new commit index."""
        self.send_pending: set[int] = set()
        """Leader: followers owed their new entries (if any). Sends wait for the next Ready so
        that the proposals and acknowledgements of one round share one AppendEntries."""
        self.entries_pending = False
        """Leader: new entries every follower is owed (like ``send_pending`` for all)."""

        hs, cs = storage.initial_state()
        snap = storage.snapshot()
        if not cs.voters and not snap.empty:
            cs = snap.meta.conf_state
        self.tracker.set_conf(cs, self.log.last_index() + 1)
        if hs.commit > self.log.last_index():
            raise InvariantViolation(
                f"persisted commit {hs.commit} beyond last index {self.log.last_index()}"
            )
        self.log.committed = max(hs.commit, self.log.committed)
        self.term = hs.term
        self.vote = hs.vote
        applied = max(config.applied, self.log.applied)
        if applied > self.log.committed:
            raise InvariantViolation(f"applied {applied} > commit {self.log.committed}")
        self.log.applied = self.log.applying = applied
        self.become_follower(self.term, NONE)

    # --- output ---------------------------------------------------------------------------------

    def send(self, m: Message) -> None:
        if type(m) in _AFTER_PERSIST or (type(m) is RequestVote and not m.pre_vote):
            self.msgs_after_persist.append(m)
        else:
            self.msgs.append(m)

    # --- role changes: the ONLY place `role` and `step_fn` are assigned --------------------------

    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        et = self.cfg.election_tick
        self.randomized_election_timeout = et + self.rng.randrange(et)
        self.lead_transferee = NONE
        self.tracker.reset_votes()
        next_index = self.log.last_index() + 1
        for node, pr in self.tracker.progress.items():
            pr.become_probe()
            pr.match = 0
            pr.next = next_index
            pr.recent_active = False
            if node == self.id:
                pr.match = self.log.persisted_index()
                pr.recent_active = True
        self.pending_conf_index = 0
        self.read_only = ReadOnly()
        self.pending_reads = []
        self.snap_recv = None
        self.bcast_pending = False
        self.send_pending = set()
        self.entries_pending = False

    def become_follower(self, term: int, lead: int) -> None:
        self._reset(term)
        self.lead = lead
        self.role = Role.FOLLOWER
        self.step_fn = roles.step_follower

    def become_pre_candidate(self) -> None:
        """Ask for pre-votes: changes neither the term nor the vote (Raft thesis §9.6)."""
        if self.role is Role.LEADER:
            raise InvariantViolation("leader -> pre-candidate")
        self.tracker.reset_votes()
        self.lead = NONE
        self.role = Role.PRE_CANDIDATE
        self.step_fn = roles.step_candidate

    def become_candidate(self) -> None:
        if self.role is Role.LEADER:
            raise InvariantViolation("leader -> candidate")
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE
        self.step_fn = roles.step_candidate

    def become_leader(self) -> None:
        if self.role is Role.FOLLOWER:
            raise InvariantViolation("follower -> leader")
        self._reset(self.term)
        self.lead = self.id
        self.role = Role.LEADER
        self.step_fn = roles.step_leader
        own = self.tracker.progress.get(self.id)
        if own is not None:
            own.become_replicate()
            own.match = self.log.persisted_index()
            own.next = self.log.last_index() + 1
        # Conservatively treat every entry we hold as a possibly pending membership change: a
        # new one waits until they are applied (and a half-done joint change gets its leave).
        self.pending_conf_index = self.log.last_index()
        # Raft §5.4.2 / §8: an entry of our own term lets us commit (and serve reads).
        self.append_entries([Entry(self.term, self.log.last_index() + 1)])

    # --- elections ------------------------------------------------------------------------------

    def promotable(self) -> bool:
        """Only voters campaign: learners and nodes outside the configuration never do."""
        return self.tracker.is_voter(self.id)

    def hup(self, transfer: bool = False) -> None:
        """Start an election if we may (pre-vote first unless this is a transfer)."""
        if self.role is Role.LEADER or not self.promotable():
            return
        if self.log.has_unapplied_conf_changes():
            return  # our configuration may be stale until those are applied
        if self.cfg.pre_vote and not transfer:
            self.campaign(pre_vote=True, transfer=False)
        else:
            self.campaign(pre_vote=False, transfer=transfer)

    def campaign(self, pre_vote: bool, transfer: bool) -> None:
        if pre_vote:
            self.become_pre_candidate()
            term = self.term + 1
        else:
            self.become_candidate()
            term = self.term
        self.tracker.record_vote(self.id, True)
        if self.tracker.tally() is VoteResult.WON:
            self._won(pre_vote)
            return
        last_index = self.log.last_index()
        last_term = self.log.last_term()
        for node in sorted(self.tracker.voter_ids):
            if node == self.id:
                continue
            self.send(RequestVote(term, self.id, node, last_index, last_term, pre_vote, transfer))

    def _won(self, pre_vote: bool) -> None:
        if pre_vote:
            self.campaign(pre_vote=False, transfer=False)
        else:
            self.become_leader()

    def poll(self, m: RequestVoteResponse) -> None:
        """Count a vote for our (pre-)candidacy."""
        self.tracker.record_vote(m.frm, m.granted)
        result = self.tracker.tally()
        if result is VoteResult.WON:
            self._won(m.pre_vote)
        elif result is VoteResult.LOST:
            # A pre-candidate that lost keeps its term; a candidate keeps its (new) term.
            self.become_follower(self.term, NONE)

    def handle_vote_request(self, m: RequestVote) -> None:
        """Grant at most one vote per term, only to an up-to-date log (Raft §5.2, §5.4.1)."""
        can_vote = (
            self.vote == m.frm
            or (self.vote == NONE and self.lead == NONE)
            or (m.pre_vote and m.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(m.last_log_index, m.last_log_term):
            self.send(RequestVoteResponse(m.term, self.id, m.frm, True, m.pre_vote))
            if not m.pre_vote:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self.send(RequestVoteResponse(self.term, self.id, m.frm, False, m.pre_vote))

    # --- the entry point for peer messages --------------------------------------------------------

    def step(self, m: Message) -> None:
        """Apply the term rules every role shares (Raft §5.1), then the role's step function.

        A message no correct peer can send raises ``PeerProtocolError`` before anything changes
        (see :mod:`aspen.raft.validate`).
        """
        validate.check(self, m)
        if m.term > self.term:
            if isinstance(m, RequestVote):
                in_lease = (
                    self.cfg.check_quorum
                    and self.lead != NONE
                    and self.election_elapsed < self.cfg.election_tick
                )
                if in_lease and not m.transfer:
                    # Leader lease (§6.4 of the thesis): we heard from a live leader recently,
                    # so this candidate is disruptive. Neither bump the term nor answer.
                    return
                if not m.pre_vote:
                    self.become_follower(m.term, NONE)
            elif isinstance(m, RequestVoteResponse) and m.pre_vote and m.granted:
                pass  # granted pre-votes carry the term we WOULD have: not a reason to step down
            elif isinstance(m, (AppendEntries, Heartbeat, InstallSnapshot)):
                self.become_follower(m.term, m.frm)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.cfg.check_quorum or self.cfg.pre_vote) and isinstance(
                m, (AppendEntries, Heartbeat)
            ):
                # A stale leader (e.g. healed from a partition) would otherwise never learn of
                # the new term: with pre-vote/check-quorum nobody disrupts it by campaigning.
                self.send(AppendEntriesResponse(self.term, self.id, m.frm, 0))
            elif isinstance(m, RequestVote) and m.pre_vote:
                self.send(RequestVoteResponse(self.term, self.id, m.frm, False, True))
            return
        if isinstance(m, RequestVote):
            self.handle_vote_request(m)
            return
        self.step_fn(self, m)

    # --- time -------------------------------------------------------------------------------------

    def tick(self) -> None:
        if self.role is Role.LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.hup()

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_tick:
            self.election_elapsed = 0
            if self.cfg.check_quorum:
                active = self.tracker.quorum_active(self.id)
                for node, pr in self.tracker.progress.items():
                    if node != self.id:
                        pr.recent_active = False
                if not active:
                    self.become_follower(self.term, NONE)
                    return
            if self.lead_transferee != NONE:
                self.abort_leader_transfer()
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick:
            self.heartbeat_elapsed = 0
            replication.bcast_heartbeat(self, self.read_only.last_pending_context())

    # --- leader: log and commit -------------------------------------------------------------------

    def append_entries(self, ents: list[Entry]) -> int:
        """Leader: append entries of the current term; followers learn at the next Ready."""
        self.log.append(ents)
        self.entries_pending = True
        return self.log.last_index()

    def maybe_commit(self) -> bool:
        """Advance commit to what a quorum holds, only via an entry of our term (§5.4.2)."""
        if not self.log.maybe_commit(self.tracker.committed(), self.term):
            return False
        if self.pending_reads and self.committed_entry_in_current_term():
            reads, self.pending_reads = self.pending_reads, []
            for ctx in reads:
                self.read_index(ctx)
        return True

    def committed_entry_in_current_term(self) -> bool:
        return self.log.match_term(self.log.committed, self.term)

    def on_persisted(self) -> None:
        """The driver persisted what we handed out: our own copy now counts for commit."""
        if self.role is not Role.LEADER:
            return
        own = self.tracker.progress.get(self.id)
        if own is not None and own.maybe_update(self.log.persisted_index()) and self.maybe_commit():
            self.bcast_pending = True
        if (
            self.tracker.conf.joint
            and self.log.applied >= self.pending_conf_index
            and self.role is Role.LEADER
        ):
            # Auto-leave: the joint configuration is applied; propose C_new (Raft §6).
            self.pending_conf_index = self.append_entries(
                [Entry(self.term, self.log.last_index() + 1, EntryKind.CONF_CHANGE, b"")]
            )

    def flush_broadcast(self) -> None:
        """Send what ``bcast_pending``/``send_pending`` promised (called before each Ready)."""
        if not (self.bcast_pending or self.send_pending or self.entries_pending):
            return
        if self.role is Role.LEADER:
            owed = self.tracker.progress if self.entries_pending else self.send_pending
            replication.flush_appends(self, self.bcast_pending, owed)
        self.bcast_pending = False
        self.entries_pending = False
        self.send_pending = set()

    # --- leader: the public verbs -----------------------------------------------------------------

    def _require_leader(self) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(self.lead)

    def propose(self, data: bytes, kind: EntryKind = EntryKind.NORMAL) -> int:
        if self.role is not Role.LEADER:
            raise NotLeader(self.lead)
        if self.lead_transferee != NONE:
            raise ProposalDropped(f"leadership is being transferred to {self.lead_transferee}")
        # The hot path of a busy leader: one entry onto the unstable tail, no list building.
        index = self.log.append_new(self.term, kind, data)
        self.entries_pending = True
        return index

    def propose_membership(self, change: ConfChange) -> int:
        self._require_leader()
        if self.lead_transferee != NONE:
            raise ProposalDropped(f"leadership is being transferred to {self.lead_transferee}")
        if self.pending_conf_index > self.log.applied:
            raise ProposalDropped(
                f"membership change at {self.pending_conf_index} not applied yet "
                f"(applied {self.log.applied})"
            )
        confchange.validate(self.tracker.conf, change)
        self.pending_conf_index = self.propose(change.encode(), EntryKind.CONF_CHANGE)
        return self.pending_conf_index

    def read_index(self, context: bytes) -> None:
        self._require_leader()
        if not context:
            raise RaftError("read_index needs a non-empty context")
        if not self.committed_entry_in_current_term():
            # Our commit index may lag the last leader's until an own-term entry commits.
            self.pending_reads.append(context)
            return
        if self.tracker.is_singleton():
            self.read_states.append(ReadState(self.log.committed, context))
            return
        if self.read_only.add_request(self.log.committed, context, self.id):
            replication.bcast_heartbeat(self, context)

    def transfer_leadership(self, target: int) -> None:
        """Raft thesis §3.10: bring ``target`` up to date, then tell it to campaign now."""
        self._require_leader()
        if target == self.id:
            return
        if not self.tracker.is_voter(target):
            raise RaftError(f"cannot transfer leadership to {target}: not a voter")
        if self.lead_transferee == target:
            return
        self.lead_transferee = target
        self.election_elapsed = 0  # the transfer must finish within one election timeout
        pr = self.tracker.progress[target]
        if pr.match == self.log.last_index():
            replication.send_timeout_now(self, target)
        else:
            replication.send_append(self, target)

    def abort_leader_transfer(self) -> None:
        self.lead_transferee = NONE

    def report_unreachable(self, node: int) -> None:
        if self.role is not Role.LEADER:
            return
        pr = self.tracker.progress.get(node)
        if pr is not None and pr.state is ProgressState.REPLICATE:
            pr.become_probe()

    # --- membership -------------------------------------------------------------------------------

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        """The driver applied a committed membership entry: switch to the configuration."""
        conf = confchange.apply(self.tracker.conf, change)
        if conf != self.tracker.conf:
            self.switch_to_config(conf)
        return conf

    def switch_to_config(self, conf: ConfState) -> None:
        # A newcomer is first probed with our last entry (etcd does the same): most often it is
        # the very entry that added it, and an empty log rejects it with a useful hint.
        self.tracker.set_conf(conf, max(self.log.last_index(), 1))
        if self.role is not Role.LEADER:
            return
        if not self.promotable():
            # Removed (or demoted): a leader outside C_new steps down once C_new is committed
            # (Raft §6). Hand over at once to a caught-up voter rather than wait for a timeout.
            target = replication.caught_up_voter(self)
            if target != NONE:
                replication.send_timeout_now(self, target)
            self.become_follower(self.term, NONE)
            return
        if self.lead_transferee != NONE and not self.tracker.is_voter(self.lead_transferee):
            self.abort_leader_transfer()
        if self.maybe_commit():
            self.bcast_pending = True
        else:
            self.entries_pending = True

    # --- snapshots (follower) ---------------------------------------------------------------------

    def restore(self, snap_index: int, snap_term: int) -> bool:
        """Whether a received snapshot replaces our log (False: we already have it)."""
        if snap_index <= self.log.committed:
            return False
        if self.role is not Role.FOLLOWER:
            raise InvariantViolation(f"{self.role.value} restoring a snapshot")
        if self.log.match_term(snap_index, snap_term):
            # Our log already holds the snapshot's last entry: just fast-forward commit.
            self.log.commit_to(snap_index)
            return False
        return True
