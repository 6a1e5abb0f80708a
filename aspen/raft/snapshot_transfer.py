"""Streaming a snapshot as InstallSnapshot chunks: the leader's sender, the follower's receiver.

Both sides are pure buffers. The sender keeps at most ``window`` chunks unacknowledged; acks are
cumulative byte offsets. A lost chunk stalls the window; the leader then rewinds to the last
acknowledged offset on its next heartbeat (``rewind_if_stalled``). A receiver that gets a chunk
of a stream it does not know (it restarted, or the done chunk was lost) rejects, and the sender
starts over from offset 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from aspen.raft.messages import Snapshot, SnapshotMeta


class SnapshotSender:
    """The leader's side of one snapshot stream to one follower."""

    __slots__ = ("acked", "chunk_size", "finished", "progressed", "sent", "snapshot", "window")

    def __init__(self, snapshot: Snapshot, chunk_size: int, window: int) -> None:
        self.snapshot = snapshot
        self.chunk_size = chunk_size
        self.window = window
        self.sent = 0
        """Bytes handed out so far. Invariant: ``acked <= sent <= len(data)``."""
        self.acked = 0
        """Bytes the follower confirmed."""
        self.finished = False
        """The ``done`` chunk was sent (and not rewound since)."""
        self.progressed = True
        """An ack arrived since the last stall check."""

    def next_chunks(self) -> list[tuple[int, bytes, bool]]:
        """Chunks ``(offset, data, done)`` that fit in the window now."""
        out: list[tuple[int, bytes, bool]] = []
        data = self.snapshot.data
        total = len(data)
        limit = self.window * self.chunk_size
        while not self.finished and self.sent - self.acked < limit:
            chunk = data[self.sent : self.sent + self.chunk_size]
            done = self.sent + len(chunk) >= total
            out.append((self.sent, chunk, done))
            self.sent += len(chunk)
            self.finished = done
            if not chunk:  # empty snapshot data: one empty done chunk fills the window
                break
        return out

    def ack(self, offset: int) -> None:
        if offset > self.acked:
            self.acked = min(offset, self.sent)
            self.progressed = True

    def restart(self) -> None:
        self.sent = self.acked = 0
        self.finished = False
        self.progressed = True

    def rewind_if_stalled(self) -> bool:
        """Called once per heartbeat: resend from the last ack if nothing moved since."""
        stalled = not self.progressed and (self.sent > self.acked or self.finished)
        self.progressed = False
        if stalled:
            self.sent = self.acked
            self.finished = False
        return stalled


@dataclass(slots=True)
class SnapshotReceiver:
    """The follower's buffer for the stream it is receiving from one leader in one term."""

    leader: int
    term: int
    meta: SnapshotMeta
    chunks: list[bytes]
    received: int = 0
    """Bytes accepted so far (all chunks are contiguous from offset 0)."""

    def matches(self, leader: int, term: int, meta: SnapshotMeta) -> bool:
        return self.leader == leader and self.term == term and self.meta == meta

    def add(self, data: bytes) -> None:
        self.chunks.append(data)
        self.received += len(data)

    def build(self) -> Snapshot:
        return Snapshot(self.meta, b"".join(self.chunks))
