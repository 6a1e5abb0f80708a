"""The step function of each role: what a message of the CURRENT term means to it.

``Raft.step`` has already applied the term rules and answered vote requests; ``Raft.step_fn`` is
one of these three (swapped only by the ``become_*`` methods of :mod:`aspen.raft.raft`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aspen.raft import follower, replication
from aspen.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVoteResponse,
    TimeoutNow,
)
from aspen.raft.ready import Role

if TYPE_CHECKING:
    from aspen.raft.raft import Raft


def step_follower(r: Raft, m: Message) -> None:
    match m:
        case AppendEntries():
            r.election_elapsed = 0
            r.lead = m.frm
            follower.handle_append_entries(r, m)
        case Heartbeat():
            r.election_elapsed = 0
            r.lead = m.frm
            follower.handle_heartbeat(r, m)
        case InstallSnapshot():
            r.election_elapsed = 0
            r.lead = m.frm
            follower.handle_snapshot_chunk(r, m)
        case TimeoutNow():
            # Raft thesis §3.10: our leader hands over; skip pre-vote, voters ignore their lease.
            r.hup(transfer=True)
        case _:
            pass  # responses addressed to a follower are leftovers of an older role


def step_candidate(r: Raft, m: Message) -> None:
    """Shared by pre-candidates and candidates (they differ in which votes they count)."""
    match m:
        case AppendEntries() | Heartbeat() | InstallSnapshot():
            # A leader of our term exists (Raft §5.2): follow it.
            r.become_follower(m.term, m.frm)
            step_follower(r, m)
        case RequestVoteResponse():
            if m.pre_vote == (r.role is Role.PRE_CANDIDATE):
                r.poll(m)
        case _:
            pass


def step_leader(r: Raft, m: Message) -> None:
    match m:
        case AppendEntriesResponse():
            replication.handle_append_response(r, m)
        case HeartbeatResponse():
            replication.handle_heartbeat_response(r, m)
        case InstallSnapshotResponse():
            replication.handle_snapshot_response(r, m)
        case _:
            # AppendEntries/Heartbeat of our own term cannot come from a legitimate leader (one
            # per term); vote responses are late. Ignore them.
            pass
