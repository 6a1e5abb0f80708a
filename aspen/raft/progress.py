"""What a leader knows about one follower's log, and how fast it may send (etcd's
``tracker/progress.go`` and ``tracker/inflights.go``)."""

from __future__ import annotations

import enum
from collections import deque

from aspen.raft.errors import InvariantViolation
from aspen.raft.snapshot_transfer import SnapshotSender


class ProgressState(enum.Enum):
    PROBE = "probe"
    """We do not know where the follower's log ends: one AppendEntries per heartbeat until an
    answer tells us (then REPLICATE)."""
    REPLICATE = "replicate"
    """Steady state: pipeline AppendEntries optimistically, up to ``max_inflight_msgs``."""
    SNAPSHOT = "snapshot"
    """The entries it needs are compacted: stream it a snapshot, send no entries meanwhile."""


class Inflights:
    """Last indexes of the AppendEntries sent but not yet acknowledged, oldest first."""

    __slots__ = ("_q", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._q: deque[int] = deque()
        """Invariant: strictly increasing, ``len <= capacity``."""

    def add(self, last_index: int) -> None:
        if len(self._q) >= self.capacity:
            raise InvariantViolation("inflights window overflow")
        self._q.append(last_index)

    def free_le(self, index: int) -> None:
        """Release every message whose entries are all acknowledged by ``index``."""
        q = self._q
        while q and q[0] <= index:
            q.popleft()

    def full(self) -> bool:
        return len(self._q) >= self.capacity

    def count(self) -> int:
        return len(self._q)

    def reset(self) -> None:
        self._q.clear()


class Progress:
    """The leader's view of one peer. Mutable: the leader updates it on every response."""

    __slots__ = (
        "inflights",
        "is_learner",
        "match",
        "next",
        "paused",
        "pending_snapshot",
        "recent_active",
        "sender",
        "state",
    )

    def __init__(self, match: int, next_index: int, max_inflight: int, is_learner: bool) -> None:
        self.match = match
        """Highest index known to be replicated on the peer. Invariant: ``0 <= match < next``."""
        self.next = next_index
        """Next index to send."""
        self.state = ProgressState.PROBE
        self.paused = False
        """Flow control: in PROBE, a probe is outstanding; in REPLICATE, the window is full."""
        self.pending_snapshot = 0
        """In SNAPSHOT: index of the snapshot being streamed. Invariant: 0 in other states."""
        self.sender: SnapshotSender | None = None
        """In SNAPSHOT: the chunk stream. Invariant: None in other states."""
        self.recent_active = False
        """Heard from the peer since the last check-quorum round."""
        self.inflights = Inflights(max_inflight)
        self.is_learner = is_learner

    def _reset_state(self, state: ProgressState) -> None:
        self.paused = False
        self.pending_snapshot = 0
        self.sender = None
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        """Back to probing, resuming after the snapshot if one was just delivered."""
        if self.state is ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int, sender: SnapshotSender) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index
        self.sender = sender

    def maybe_update(self, n: int) -> bool:
        """The peer acknowledged up to ``n``; False if that is old news."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.paused = False
        if self.next < n + 1:
            self.next = n + 1
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The peer rejected an append at ``rejected``; move ``next`` back (False if stale)."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.paused = False
        return True

    def sent_entries(self, count: int, last_index: int) -> None:
        """Book-keeping after an AppendEntries carrying ``count`` entries up to ``last_index``."""
        if self.state is ProgressState.REPLICATE:
            if count:
                self.next = last_index + 1
                self.inflights.add(last_index)
            self.paused = self.inflights.full()
        elif self.state is ProgressState.PROBE:
            if count:
                self.paused = True
        else:
            raise InvariantViolation("sent entries to a peer receiving a snapshot")

    def is_paused(self) -> bool:
        if self.state is ProgressState.SNAPSHOT:
            return True
        return self.paused

    def __repr__(self) -> str:
        return (
            f"Progress(match={self.match}, next={self.next}, state={self.state.value}, "
            f"paused={self.paused}, inflight={self.inflights.count()})"
        )
