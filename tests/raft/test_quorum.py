"""Majority and joint quorums, checked against naive definitions (etcd's quorum/quick_test.go)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aspen.raft.quorum import (
    UNBOUNDED,
    VoteResult,
    joint_committed,
    joint_vote,
    majority_committed,
    majority_vote,
)

ids = st.frozensets(st.integers(1, 9), max_size=7)
indexes = st.dictionaries(st.integers(1, 9), st.integers(0, 50))


def naive_committed(voters: frozenset[int], acked: dict[int, int]) -> int:
    """The largest index that at least a majority has acknowledged, by brute force."""
    if not voters:
        return UNBOUNDED
    best = 0
    for candidate in {acked.get(v, 0) for v in voters}:
        if sum(acked.get(v, 0) >= candidate for v in voters) > len(voters) // 2:
            best = max(best, candidate)
    return best


@given(ids, indexes)
def test_majority_committed_matches_naive(voters: frozenset[int], acked: dict[int, int]) -> None:
    assert majority_committed(voters, lambda v: acked.get(v, 0)) == naive_committed(voters, acked)


@given(ids, ids, indexes)
def test_joint_committed_is_min_of_halves(
    incoming: frozenset[int], outgoing: frozenset[int], acked: dict[int, int]
) -> None:
    got = joint_committed(incoming, outgoing, lambda v: acked.get(v, 0))
    assert got == min(naive_committed(incoming, acked), naive_committed(outgoing, acked))


def test_majority_committed_examples() -> None:
    acked = {1: 5, 2: 3, 3: 9}.__getitem__
    assert majority_committed({1, 2, 3}, acked) == 5
    assert majority_committed({1}, acked) == 5
    assert majority_committed({1, 2}, acked) == 3  # both needed
    assert majority_committed(set(), acked) == UNBOUNDED


def naive_vote(voters: frozenset[int], votes: dict[int, bool]) -> VoteResult:
    yes = sum(votes.get(v) is True for v in voters)
    missing = sum(v not in votes for v in voters)
    q = len(voters) // 2 + 1
    if yes >= q:
        return VoteResult.WON
    if yes + missing >= q:
        return VoteResult.PENDING
    return VoteResult.LOST


@given(ids.filter(bool), st.dictionaries(st.integers(1, 9), st.booleans()))
def test_majority_vote_matches_naive(voters: frozenset[int], votes: dict[int, bool]) -> None:
    assert majority_vote(voters, votes.get) is naive_vote(voters, votes)


@given(ids.filter(bool), ids.filter(bool), st.dictionaries(st.integers(1, 9), st.booleans()))
def test_joint_vote_needs_both_halves(
    incoming: frozenset[int], outgoing: frozenset[int], votes: dict[int, bool]
) -> None:
    a, b = naive_vote(incoming, votes), naive_vote(outgoing, votes)
    expected = (
        VoteResult.WON
        if a is b is VoteResult.WON
        else VoteResult.LOST
        if VoteResult.LOST in (a, b)
        else VoteResult.PENDING
    )
    assert joint_vote(incoming, outgoing, votes.get) is expected


def test_empty_config_wins_votes() -> None:
    # A simple config is a joint one with an empty outgoing half, which must not block.
    assert majority_vote(set(), {}.get) is VoteResult.WON
    assert joint_vote({1}, set(), {1: True}.get) is VoteResult.WON
