"""Majority and joint-majority decisions (etcd's ``quorum/majority.go`` and ``joint.go``).

A *majority config* is a set of voter ids; a *joint config* is two of them (incoming, outgoing)
and a decision needs a majority of EACH (Raft §6, joint consensus). An empty majority config
agrees with everything, so a non-joint config is simply a joint one with an empty outgoing half.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection

UNBOUNDED = 1 << 64
"""The committed index of an empty majority config: it never holds a joint decision back."""


class VoteResult(enum.Enum):
    PENDING = "pending"
    LOST = "lost"
    WON = "won"


def majority_committed(voters: Collection[int], acked: Callable[[int], int]) -> int:
    """The highest index acknowledged by a majority of ``voters``.

    ``acked(id)`` is the index voter ``id`` has acknowledged (0 if unknown). Sorting descending,
    the answer is the ``n//2 + 1``-th largest value.
    """
    n = len(voters)
    if n == 0:
        return UNBOUNDED
    if n == 1:
        for v in voters:
            return acked(v)
    srt = sorted((acked(v) for v in voters), reverse=True)
    return srt[n // 2]


def majority_vote(voters: Collection[int], votes: Callable[[int], bool | None]) -> VoteResult:
    """Won with a majority of yes, lost once a majority can no longer be reached."""
    if not voters:
        return VoteResult.WON
    yes = no = 0
    for v in voters:
        vote = votes(v)
        if vote is True:
            yes += 1
        elif vote is False:
            no += 1
    q = len(voters) // 2 + 1
    if yes >= q:
        return VoteResult.WON
    if len(voters) - no < q:
        return VoteResult.LOST
    return VoteResult.PENDING


def joint_committed(
    incoming: Collection[int], outgoing: Collection[int], acked: Callable[[int], int]
) -> int:
    return min(majority_committed(incoming, acked), majority_committed(outgoing, acked))


def joint_vote(
    incoming: Collection[int], outgoing: Collection[int], votes: Callable[[int], bool | None]
) -> VoteResult:
    r1 = majority_vote(incoming, votes)
    r2 = majority_vote(outgoing, votes)
    if r1 is r2:
        return r1
    if VoteResult.LOST in (r1, r2):
        return VoteResult.LOST
    return VoteResult.PENDING
