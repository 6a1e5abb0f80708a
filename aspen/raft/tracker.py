"""The configuration in force, one Progress per member, and the votes of an election
(etcd's ``tracker/tracker.go``)."""

from __future__ import annotations

from aspen.raft.messages import ConfState
from aspen.raft.progress import Progress
from aspen.raft.quorum import UNBOUNDED, VoteResult, joint_committed, joint_vote


class ProgressTracker:
    """Membership plus per-peer replication state.

    Invariant: ``progress`` has exactly one entry per id of ``conf.all_nodes()``.
    """

    __slots__ = ("conf", "max_inflight", "progress", "voter_ids", "votes")

    def __init__(self, max_inflight: int) -> None:
        self.max_inflight = max_inflight
        self.conf = ConfState()
        self.voter_ids: frozenset[int] = frozenset()
        """``voters | voters_outgoing``: everyone whose vote or ack can count."""
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}

    def set_conf(self, conf: ConfState, next_index: int) -> None:
        """Switch to ``conf``: new members start probing at ``next_index``; leavers vanish."""
        self.conf = conf
        self.voter_ids = conf.voters | conf.voters_outgoing
        members = conf.all_nodes()
        for node in [n for n in self.progress if n not in members]:
            del self.progress[node]
        for node in sorted(members):
            is_learner = node not in self.voter_ids
            pr = self.progress.get(node)
            if pr is None:
                pr = Progress(0, next_index, self.max_inflight, is_learner)
                # A new member counts as active, so check-quorum does not depose the leader
                # before the newcomer had a chance to answer.
                pr.recent_active = True
                self.progress[node] = pr
            else:
                pr.is_learner = is_learner

    def is_voter(self, node: int) -> bool:
        return node in self.voter_ids

    def is_singleton(self) -> bool:
        return len(self.conf.voters) == 1 and not self.conf.voters_outgoing

    def committed(self) -> int:
        """The highest index a (joint) quorum of voters has acknowledged (0 if no voters)."""
        progress = self.progress

        def acked(node: int) -> int:
            pr = progress.get(node)
            return pr.match if pr is not None else 0

        c = joint_committed(self.conf.voters, self.conf.voters_outgoing, acked)
        return 0 if c == UNBOUNDED else c

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node: int, granted: bool) -> None:
        """Keep the first answer of each node (a duplicate cannot change its mind)."""
        self.votes.setdefault(node, granted)

    def tally(self) -> VoteResult:
        if not self.voter_ids:
            return VoteResult.LOST
        return joint_vote(self.conf.voters, self.conf.voters_outgoing, self.votes.get)

    def quorum_active(self, self_id: int) -> bool:
        """Whether a (joint) quorum was heard from since the last check (we count as heard)."""
        progress = self.progress

        def active(node: int) -> bool | None:
            if node == self_id:
                return True
            pr = progress.get(node)
            return pr is not None and pr.recent_active

        return joint_vote(self.conf.voters, self.conf.voters_outgoing, active) is VoteResult.WON
