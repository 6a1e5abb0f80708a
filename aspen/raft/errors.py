"""Errors the Raft core raises; see ``aspen.errors`` for the whole hierarchy."""

from __future__ import annotations

from aspen.errors import AspenError
from aspen.raft.messages import NONE


class RaftError(AspenError):
    """The core refused an input."""


class NotLeader(RaftError):
    """The call needs the leader; ``leader`` is the one this node knows of (``NONE`` if none)."""

    def __init__(self, leader: int = NONE) -> None:
        super().__init__(f"not the leader (leader is {leader or 'unknown'})")
        self.leader = leader


class ProposalDropped(RaftError):
    """The leader cannot take this proposal now (transfer in progress, conf change pending)."""


class InvalidConfChange(RaftError):
    """A membership change that can never be applied (e.g. it removes every voter)."""


class InvariantViolation(RaftError):
    """The core reached a state that Raft forbids. A bug: never catch this."""


class StorageError(AspenError):
    """What an implementation of ``aspen.raft.storage.Storage`` may raise."""


class Compacted(StorageError):
    """The requested index was compacted into a snapshot."""


class Unavailable(StorageError):
    """The requested index is past the last index in storage."""
