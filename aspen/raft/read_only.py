"""Linearizable reads without writing to the log: the ReadIndex protocol (Raft thesis §6.4,
etcd's ``read_only.go``).

The leader notes its commit index when a read arrives, then proves it is still the leader by
collecting heartbeat acknowledgements carrying the read's context from a quorum. Reads are
confirmed in arrival order: an acknowledged heartbeat for one read also confirms every read that
arrived before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ReadIndexStatus:
    index: int
    """The leader's commit index when the read arrived: serve it once applied reaches this."""
    context: bytes
    acks: set[int] = field(default_factory=set)


class ReadOnly:
    """Pending reads of the current leader term, in arrival order."""

    __slots__ = ("pending", "queue")

    def __init__(self) -> None:
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []
        """Contexts in arrival order. Invariant: same keys as ``pending``."""

    def add_request(self, index: int, context: bytes, self_id: int) -> bool:
        """Track a read; False if that context is already pending (duplicate)."""
        if context in self.pending:
            return False
        self.pending[context] = ReadIndexStatus(index, context, {self_id})
        self.queue.append(context)
        return True

    def recv_ack(self, node: int, context: bytes) -> set[int] | None:
        status = self.pending.get(context)
        if status is None:
            return None
        status.acks.add(node)
        return status.acks

    def advance(self, context: bytes) -> list[ReadIndexStatus]:
        """Pop and return every read up to and including ``context``."""
        if context not in self.pending:
            return []
        k = self.queue.index(context) + 1
        done = [self.pending.pop(c) for c in self.queue[:k]]
        del self.queue[:k]
        return done

    def last_pending_context(self) -> bytes:
        return self.queue[-1] if self.queue else b""
