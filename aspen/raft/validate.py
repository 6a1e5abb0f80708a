"""Reject peer messages that no correct peer can send, BEFORE they touch any state.

Every check here names a message that is impossible given the protocol (and, for the stateful
checks, given what this node knows about its own term and log). Such a message comes from a
broken or hostile peer; acting on it would corrupt the leader's view of a follower (an ack beyond
our last index moved ``next`` past the log end and crashed the leader) or force an election
nobody asked for. :func:`check` raises :class:`PeerProtocolError` naming the check; the caller
(``RawNode.step``) counts it and the node carries on with its state unchanged.

What is NOT checked here: messages that are merely old, duplicated or reordered (the term rules
and the role handlers already ignore those), and messages from nodes outside the configuration
(a removed node or a newcomer legitimately sends some). Nor the node's own invariants: those
raise ``InvariantViolation`` where they are kept (the log, the progress tracker), and stop it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aspen.raft.errors import PeerProtocolError
from aspen.raft.messages import (
    NONE,
    AppendEntries,
    AppendEntriesResponse,
    ConfChange,
    EntryKind,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from aspen.raft.ready import Role

if TYPE_CHECKING:
    from aspen.raft.raft import Raft


CHECKS: tuple[str, ...] = (
    "wrong_recipient",
    "bad_sender",
    "future_log_term",
    "gap",
    "bad_conf_change",
    "hint_beyond_rejected",
    "bad_conf_state",
    "future_term",
    "index_beyond_log",
    "offset_beyond_snapshot",
)
"""Every ``PeerProtocolError.kind`` raised here: counters start at 0 for each, so a metric
exists (and ``rate()`` sees its first increment) before the first attack."""


def _bad(kind: str, m: Message, why: str) -> PeerProtocolError:
    return PeerProtocolError(kind, f"{type(m).__name__} from {m.frm} (term {m.term}): {why}")


def check(r: Raft, m: Message) -> None:
    """Raise :class:`PeerProtocolError` if ``m`` is impossible; return if it may be stepped."""
    _check_addressing(r, m)
    _check_shape(m)
    _check_term(r, m)
    if m.term == r.term and r.role is Role.LEADER:
        _check_leader_answer(r, m)


def _check_addressing(r: Raft, m: Message) -> None:
    if m.to != r.id:
        raise _bad("wrong_recipient", m, f"addressed to {m.to}, this is node {r.id}")
    if m.frm == NONE or m.frm == r.id:
        raise _bad("bad_sender", m, f"sender id {m.frm} is not a peer's")


def _check_shape(m: Message) -> None:
    """Checks on the message alone: what its own fields contradict."""
    match m:
        case RequestVote():
            if m.last_log_term > m.term:
                # A candidate's log never holds an entry of a term beyond the one it runs in.
                raise _bad("future_log_term", m, f"last log term {m.last_log_term} > term")
        case AppendEntries():
            if m.prev_term > m.term:
                raise _bad("future_log_term", m, f"prev term {m.prev_term} > term")
            index, term = m.prev_index, m.prev_term
            for e in m.entries:
                if e.index != index + 1:
                    raise _bad("gap", m, f"entry {e.index} does not follow {index}")
                if not term <= e.term <= m.term:
                    raise _bad("future_log_term", m, f"entry {e.index} has term {e.term}")
                if e.kind is EntryKind.CONF_CHANGE:
                    try:
                        ConfChange.decode(e.data)
                    except ValueError as err:
                        # Applying it would stop the node: no leader ever encodes one.
                        raise _bad("bad_conf_change", m, f"entry {e.index}: {err}") from None
                index, term = e.index, e.term
        case AppendEntriesResponse():
            if m.reject and m.hint_index > m.index:
                raise _bad("hint_beyond_rejected", m, f"hint {m.hint_index} > index {m.index}")
            if m.hint_term > m.term:
                raise _bad("future_log_term", m, f"hint term {m.hint_term} > term")
        case InstallSnapshot():
            meta = m.meta
            if meta.term > m.term:
                raise _bad("future_log_term", m, f"snapshot term {meta.term} > term")
            cs = meta.conf_state
            if cs.voters & cs.learners:
                raise _bad("bad_conf_state", m, f"snapshot configuration {cs} is impossible")
        case _:
            pass


def _check_term(r: Raft, m: Message) -> None:
    """Answers echo the term of a request WE sent, so they never come from our future; nor does
    TimeoutNow (its sender led a term whose entries we acknowledged)."""
    if m.term <= r.term:
        return
    match m:
        case HeartbeatResponse() | InstallSnapshotResponse() | TimeoutNow():
            raise _bad("future_term", m, f"our term is {r.term}")
        case RequestVoteResponse() if m.granted:
            # A granted pre-vote carries the term we WOULD campaign in: at most ours + 1.
            if not m.pre_vote or m.term > r.term + 1:
                raise _bad("future_term", m, f"a granted vote beyond our term {r.term}")
        case _:
            pass


def _check_leader_answer(r: Raft, m: Message) -> None:
    """A follower's answer to us, the leader of this term: it can only name what we sent."""
    last = r.log.last_index()
    match m:
        case AppendEntriesResponse():
            if m.index > last:
                what = "rejects" if m.reject else "acknowledges"
                raise _bad("index_beyond_log", m, f"{what} index {m.index} > our last {last}")
        case InstallSnapshotResponse():
            if m.snapshot_index > last:
                raise _bad("index_beyond_log", m, f"snapshot {m.snapshot_index} > our last {last}")
            pr = r.tracker.progress.get(m.frm)
            if (
                pr is not None
                and pr.sender is not None
                and m.snapshot_index == pr.pending_snapshot
                and m.offset > len(pr.sender.snapshot.data)
            ):
                raise _bad("offset_beyond_snapshot", m, f"offset {m.offset} past the snapshot")
        case _:
            pass
