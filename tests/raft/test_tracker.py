"""Membership and per-peer progress (etcd's tracker/tracker.go)."""

from __future__ import annotations

from aspen.raft import ConfState
from aspen.raft.quorum import VoteResult
from aspen.raft.tracker import ProgressTracker


def conf(voters: set[int], learners: set[int] = set(), outgoing: set[int] = set()) -> ConfState:  # noqa: B006
    return ConfState(frozenset(voters), frozenset(learners), frozenset(outgoing))


def test_set_conf_keeps_existing_progress_and_adds_newcomers_active() -> None:
    t = ProgressTracker(max_inflight=4)
    t.set_conf(conf({1, 2, 3}), next_index=5)
    t.progress[2].match = 4
    t.set_conf(conf({1, 2}, {4}, {1, 2, 3}), next_index=9)
    assert set(t.progress) == {1, 2, 3, 4}
    assert t.progress[2].match == 4  # untouched
    assert t.progress[4].next == 9 and t.progress[4].is_learner and t.progress[4].recent_active
    assert t.voter_ids == {1, 2, 3}
    t.set_conf(conf({1, 2}, {4}), next_index=9)
    assert set(t.progress) == {1, 2, 4}


def test_committed_uses_joint_quorum_and_ignores_learners() -> None:
    t = ProgressTracker(max_inflight=4)
    t.set_conf(conf({1, 2, 3}, {4}), next_index=1)
    for node, match in {1: 9, 2: 7, 3: 2, 4: 100}.items():
        t.progress[node].match = match
    assert t.committed() == 7
    t.set_conf(conf({1, 3, 4}, outgoing={1, 2, 3}), next_index=1)
    assert t.committed() == 7  # min(incoming {9, 2, 100} -> 9, outgoing {9, 7, 2} -> 7)
    t.progress[3].match = 1
    t.progress[4].match = 1
    assert t.committed() == 1


def test_votes_and_quorum_activity() -> None:
    t = ProgressTracker(max_inflight=4)
    t.set_conf(conf({1, 2, 3}), next_index=1)
    t.record_vote(1, True)
    assert t.tally() is VoteResult.PENDING
    t.record_vote(2, False)
    t.record_vote(2, True)  # a node cannot change its answer
    assert t.tally() is VoteResult.PENDING
    t.record_vote(3, True)
    assert t.tally() is VoteResult.WON
    for pr in t.progress.values():
        pr.recent_active = False
    assert not t.quorum_active(self_id=1)
    t.progress[3].recent_active = True
    assert t.quorum_active(self_id=1)


def test_no_voters_never_wins() -> None:
    t = ProgressTracker(max_inflight=4)
    assert t.tally() is VoteResult.LOST
    assert t.committed() == 0
