"""Values that cross the boundary of the Raft core: log entries, persistent state, messages.

Everything here is an immutable value (``frozen=True, slots=True``) so a message handed to the
transport or a test network can never be changed behind the core's back. Encoding to bytes lives
in ``aspen.wire``; nothing here knows about sockets or serialization.

Every peer message carries ``term``, ``frm`` (sender id) and ``to`` (receiver id). Node ids are
positive integers; ``0`` means "none" (no vote, no known leader).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

NONE = 0
"""The node id that means "nobody": no vote cast, no leader known."""


class EntryKind(enum.IntEnum):
    """What an entry's ``data`` holds."""

    NORMAL = 0
    """Opaque application command (empty ``data`` = the no-op a new leader appends)."""
    CONF_CHANGE = 1
    """An encoded :class:`ConfChange` (see ``ConfChange.encode``)."""


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    kind: EntryKind = EntryKind.NORMAL
    data: bytes = b""

    def size(self) -> int:
        """Approximate bytes on the wire, used for batching limits."""
        return len(self.data) + 24


@dataclass(frozen=True, slots=True)
class HardState:
    """State that must be on stable storage before messages that depend on it are sent."""

    term: int = 0
    vote: int = NONE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfState:
    """The membership configuration in force.

    ``voters_outgoing`` is non-empty only in a joint configuration (C_old,new): decisions then
    need a majority of ``voters`` AND a majority of ``voters_outgoing``. Learners receive the log
    but never vote and never count for a quorum. Invariant: ``learners`` and ``voters`` are
    disjoint.
    """

    voters: frozenset[int] = frozenset()
    learners: frozenset[int] = frozenset()
    voters_outgoing: frozenset[int] = frozenset()

    @property
    def joint(self) -> bool:
        return bool(self.voters_outgoing)

    def all_nodes(self) -> frozenset[int]:
        return self.voters | self.learners | self.voters_outgoing


class ConfChangeKind(enum.IntEnum):
    ADD_VOTER = 0
    ADD_LEARNER = 1
    REMOVE = 2


@dataclass(frozen=True, slots=True)
class ConfChange:
    """A membership change: a batch of single-node changes applied together.

    An empty ``changes`` tuple means "leave the joint configuration" (what a leader proposes
    by itself once the joint configuration is committed). Any batch that changes the voter set
    goes through joint consensus; a batch that only adds/removes learners is applied directly.
    """

    changes: tuple[tuple[ConfChangeKind, int], ...] = ()

    def encode(self) -> bytes:
        return b"".join(bytes((int(k),)) + n.to_bytes(8, "big") for k, n in self.changes)

    @classmethod
    def decode(cls, data: bytes) -> ConfChange:
        if len(data) % 9:
            raise ValueError("conf change payload is not a multiple of 9 bytes")
        return cls(
            tuple(
                (ConfChangeKind(data[i]), int.from_bytes(data[i + 1 : i + 9], "big"))
                for i in range(0, len(data), 9)
            )
        )


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A state-machine image covering every entry up to and including ``meta.index``."""

    meta: SnapshotMeta = field(default_factory=SnapshotMeta)
    data: bytes = b""

    @property
    def empty(self) -> bool:
        return self.meta.index == 0


# --- peer messages -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestVote:
    term: int
    frm: int
    to: int
    last_log_index: int
    last_log_term: int
    pre_vote: bool = False
    """Pre-vote: ``term`` is the term the sender WOULD campaign in; nobody changes state."""
    transfer: bool = False
    """Campaign started by TimeoutNow: voters ignore their leader lease for it."""


@dataclass(frozen=True, slots=True)
class RequestVoteResponse:
    term: int
    frm: int
    to: int
    granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class AppendEntries:
    term: int
    frm: int
    to: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int


@dataclass(frozen=True, slots=True)
class AppendEntriesResponse:
    """Reply to AppendEntries.

    On success ``index`` is the last index the follower now matches. On reject ``index`` is the
    ``prev_index`` that did not match, and ``hint_index``/``hint_term`` let the leader jump back
    over a whole conflicting term at once (fast backtracking): the follower's last index at or
    below ``index`` whose term is ``<= hint_term``.
    """

    term: int
    frm: int
    to: int
    index: int
    reject: bool = False
    hint_index: int = 0
    hint_term: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    term: int
    frm: int
    to: int
    commit: int
    context: bytes = b""
    """Opaque ReadIndex context echoed back by the follower."""


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    term: int
    frm: int
    to: int
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """One chunk of a snapshot; ``data`` holds bytes ``[offset, offset+len(data))``."""

    term: int
    frm: int
    to: int
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


@dataclass(frozen=True, slots=True)
class InstallSnapshotResponse:
    """``offset`` is the number of bytes received so far; ``reject`` asks to restart at 0."""

    term: int
    frm: int
    to: int
    snapshot_index: int
    offset: int
    done: bool = False
    reject: bool = False


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Sent by a leader to the transfer target: campaign immediately."""

    term: int
    frm: int
    to: int


Message = (
    RequestVote
    | RequestVoteResponse
    | AppendEntries
    | AppendEntriesResponse
    | Heartbeat
    | HeartbeatResponse
    | InstallSnapshot
    | InstallSnapshotResponse
    | TimeoutNow
)
"""Every message one Raft node sends another."""

MESSAGE_TYPES: tuple[type, ...] = (
    RequestVote,
    RequestVoteResponse,
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    TimeoutNow,
)
