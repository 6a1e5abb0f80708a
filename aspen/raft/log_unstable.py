"""The tail of the log that the driver has not yet persisted (etcd's ``log_unstable.go``)."""

from __future__ import annotations

from aspen.raft.errors import InvariantViolation
from aspen.raft.messages import Entry, Snapshot


class Unstable:
    """Entries (and possibly an incoming snapshot) handed to the driver but not yet durable.

    Everything below ``offset`` is on stable storage; everything from ``offset`` on lives only
    here until ``advance`` reports it persisted (``stable_to``).
    """

    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        """An incoming snapshot not yet persisted. Invariant: if set, ``offset == index + 1``
        at the time it was restored (entries may follow it)."""
        self.entries: list[Entry] = []
        """Invariant: ``entries[i].index == offset + i``."""
        self.offset = offset

    def maybe_first_index(self) -> int | None:
        """The first index of the log if a pending snapshot defines it."""
        return self.snapshot.meta.index + 1 if self.snapshot is not None else None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.meta.index
        return None

    def maybe_term(self, index: int) -> int | None:
        if index < self.offset:
            snap = self.snapshot
            if snap is not None and snap.meta.index == index:
                return snap.meta.term
            return None
        k = index - self.offset
        if k < len(self.entries):
            return self.entries[k].term
        return None

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to ``index`` are durable, unless that entry was replaced since the Ready."""
        if self.maybe_term(index) != term or index < self.offset:
            return
        del self.entries[: index + 1 - self.offset]
        self.offset = index + 1

    def stable_snap_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.meta.index == index:
            self.snapshot = None

    def restore(self, snap: Snapshot) -> None:
        self.offset = snap.meta.index + 1
        self.entries = []
        self.snapshot = snap

    def truncate_and_append(self, ents: list[Entry]) -> None:
        """Append ``ents``, first dropping any unstable entry at or after ``ents[0].index``."""
        first = ents[0].index
        end = self.offset + len(self.entries)
        if first == end:
            self.entries.extend(ents)
        elif first <= self.offset:
            # Replaces everything unstable; the driver will overwrite storage from `first` on.
            self.offset = first
            self.entries = list(ents)
        elif first < end:
            del self.entries[first - self.offset :]
            self.entries.extend(ents)
        else:
            raise InvariantViolation(f"gap in unstable log: end {end}, appending at {first}")

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries ``[lo, hi)``. Invariant: ``offset <= lo <= hi <= offset + len(entries)``."""
        if lo < self.offset or hi > self.offset + len(self.entries) or lo > hi:
            raise InvariantViolation(
                f"unstable slice [{lo},{hi}) out of [{self.offset},"
                f"{self.offset + len(self.entries)})"
            )
        return self.entries[lo - self.offset : hi - self.offset]
