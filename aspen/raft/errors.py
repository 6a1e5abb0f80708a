"""Errors the Raft core raises; see ``aspen.errors`` for the whole hierarchy.

They are split by who is at fault (as h11 splits Local/RemoteProtocolError):

* :class:`RaftError` — the core refused an input. The caller's (``NotLeader``, ...) or a
  peer's (:class:`PeerProtocolError`): either way the node's own state is intact and it goes on.
* :class:`InvariantViolation` — the node's OWN state broke a Raft invariant. It is deliberately
  NOT a ``RaftError``, so no ``except RaftError`` can swallow it: the node must stop.
"""

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


class PeerProtocolError(RaftError):
    """A peer's message that no correct peer can send (an ack beyond our last index, a future
    term on a message that cannot carry one, ...). The core rejected it BEFORE changing any
    state and counted it (``RawNode.rejected``); the node goes on. ``kind`` names the check."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class InvariantViolation(AspenError):
    """The core reached a state that Raft forbids. A bug (ours): never catch this; the node
    stops. Not a :class:`RaftError` on purpose."""


class StorageError(AspenError):
    """What an implementation of ``aspen.raft.storage.Storage`` may raise."""


class Compacted(StorageError):
    """The requested index was compacted into a snapshot."""


class Unavailable(StorageError):
    """The requested index is past the last index in storage."""
