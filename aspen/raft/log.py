"""The Raft log as the core sees it: stable storage plus the unstable tail (etcd's ``log.go``)."""

from __future__ import annotations

from aspen.raft.errors import Compacted, InvariantViolation, StorageError, Unavailable
from aspen.raft.log_unstable import Unstable
from aspen.raft.messages import Entry, EntryKind, Snapshot
from aspen.raft.storage import Storage, limit_size


class RaftLog:
    """Read-through view of ``storage`` + ``unstable``, with the commit and apply cursors.

    Invariant: ``first_index() - 1 <= applied <= committed <= last_index()`` and
    ``applied <= applying <= committed`` (except while a received snapshot is being handed out:
    then ``applied`` may trail ``first_index() - 1`` until ``advance``).
    """

    __slots__ = ("applied", "applying", "committed", "storage", "unstable")

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        """Highest index known to be committed."""
        self.applied = first - 1
        """Highest index handed to the driver to apply (and acknowledged by ``advance``)."""
        self.applying = first - 1
        """Highest index handed to the driver to apply, acknowledged or not: above ``applied``
        while a Ready's committed entries are being applied (see `RawNode.ready`)."""

    # --- shape ---------------------------------------------------------------------------------

    def first_index(self) -> int:
        snap = self.unstable.snapshot
        return snap.meta.index + 1 if snap is not None else self.storage.first_index()

    def last_index(self) -> int:
        u = self.unstable
        if u.entries:
            return u.offset + len(u.entries) - 1
        if u.snapshot is not None:
            return u.snapshot.meta.index
        return self.storage.last_index()

    def persisted_index(self) -> int:
        """Highest index known durable AND still part of this log (0 while a snapshot is
        pending: nothing of the new log is durable yet)."""
        if self.unstable.snapshot is not None:
            return 0
        return self.unstable.offset - 1

    def term(self, index: int) -> int:
        """Term at ``index``; raises ``Compacted``/``Unavailable`` outside the known range."""
        u = self.unstable
        k = index - u.offset
        if k >= 0:
            if k < len(u.entries):
                return u.entries[k].term
            raise Unavailable(f"index {index} beyond last {self.last_index()}")
        snap = u.snapshot
        if snap is not None:
            if index == snap.meta.index:
                return snap.meta.term
            raise Compacted(f"index {index} compacted")
        # Below the unstable tail: stable storage (which raises Compacted if it is gone).
        return self.storage.term(index)

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except StorageError:
            return False

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a candidate with this last entry is at least as up to date as us (§5.4.1)."""
        my_term = self.last_term()
        return last_term > my_term or (last_term == my_term and last_index >= self.last_index())

    # --- reading entries -----------------------------------------------------------------------

    def slice(
        self, lo: int, hi: int, max_bytes: int | None = None, max_count: int | None = None
    ) -> list[Entry]:
        """Entries ``[lo, hi)`` limited by bytes and count (never empty if ``lo < hi``)."""
        if lo < self.first_index():
            raise Compacted(f"index {lo} compacted")
        if hi > self.last_index() + 1 or lo > hi:
            raise InvariantViolation(f"slice [{lo},{hi}) out of bounds (last {self.last_index()})")
        if lo == hi:
            return []
        if max_count is not None and hi - lo > max_count:
            hi = lo + max_count
        u = self.unstable
        off = u.offset
        if lo >= off:
            ents = u.entries[lo - off : hi - off]
            return ents if max_bytes is None else limit_size(ents, max_bytes)
        stored = self.storage.entries(lo, min(hi, off), max_bytes)
        if hi <= off or len(stored) < off - lo:
            return stored
        rest = u.entries[: hi - off]
        if max_bytes is None:
            return stored + rest
        budget = max_bytes - sum(e.size() for e in stored)
        out = list(stored)
        for e in rest:
            budget -= e.size()
            if budget < 0:
                break
            out.append(e)
        return out

    def entries_from(self, lo: int, max_bytes: int, max_count: int) -> list[Entry]:
        last = self.last_index()
        if lo > last:
            return []
        return self.slice(lo, last + 1, max_bytes, max_count)

    def next_committed_entries(self) -> list[Entry]:
        """Committed entries not yet applied that are already durable (safe to apply)."""
        lo = self.applied + 1
        hi = min(self.committed, self.persisted_index()) + 1
        if hi <= lo:
            return []
        return self.slice(lo, hi)

    def has_next_committed_entries(self) -> bool:
        return min(self.committed, self.persisted_index()) > self.applied

    def has_unapplied_conf_changes(self) -> bool:
        """Whether a committed membership change has not been applied yet (then we may not
        campaign: our configuration would be stale)."""
        if self.committed <= self.applied:
            return False
        lo = max(self.applied + 1, self.first_index())
        return any(e.kind == EntryKind.CONF_CHANGE for e in self.slice(lo, self.committed + 1))

    # --- writing (in memory) -------------------------------------------------------------------

    def append(self, ents: list[Entry]) -> int:
        """Append (truncating any conflicting suffix); returns the new last index."""
        if not ents:
            return self.last_index()
        if ents[0].index - 1 < self.committed:
            raise InvariantViolation(
                f"append at {ents[0].index} would overwrite committed entry {self.committed}"
            )
        self.unstable.truncate_and_append(ents)
        return self.last_index()

    def append_new(self, term: int, kind: EntryKind, data: bytes) -> int:
        """Leader: add one entry after the last one; returns its index."""
        u = self.unstable
        if u.entries:
            index = u.offset + len(u.entries)
        else:
            index = self.last_index() + 1
            if index != u.offset:
                raise InvariantViolation(f"unstable offset {u.offset} != next index {index}")
        u.entries.append(Entry(term, index, kind, data))
        return index

    def find_conflict(self, ents: tuple[Entry, ...]) -> int:
        """Index of the first entry of ``ents`` not already in the log (0 if all are)."""
        last = self.last_index()
        for e in ents:
            if e.index > last or not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The last index ``<= index`` whose term is ``<= term``, with that term.

        A follower sends this as the rejection hint: the leader can then skip every entry of a
        term the follower does not share (etcd's findConflictByTerm). If the term is unknown
        (compacted) the search stops there with term 0.
        """
        while index > 0:
            try:
                t = self.term(index)
            except StorageError:
                return index, 0
            if t <= term:
                return index, t
            index -= 1
        return 0, 0

    def maybe_append(
        self, prev_index: int, prev_term: int, commit: int, ents: tuple[Entry, ...]
    ) -> int | None:
        """The follower side of AppendEntries; returns the last matching index or None (§5.3)."""
        if not self.match_term(prev_index, prev_term):
            return None
        last_new = prev_index + len(ents)
        ci = self.find_conflict(ents)
        if ci:
            if ci <= self.committed:
                raise InvariantViolation(f"entry {ci} conflicts with committed {self.committed}")
            self.append(list(ents[ci - prev_index - 1 :]))
        self.commit_to(min(commit, last_new))
        return last_new

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            if index > self.last_index():
                raise InvariantViolation(
                    f"commit {index} out of range (last index {self.last_index()})"
                )
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit ``index`` only if its entry is of ``term`` (the leader's own; Raft §5.4.2)."""
        if index > self.committed and self.match_term(index, term):
            self.commit_to(index)
            return True
        return False

    def applied_to(self, index: int) -> None:
        if index == 0:
            return
        if index > self.committed or index < self.applied:
            raise InvariantViolation(
                f"applied {index} out of range [{self.applied}, {self.committed}]"
            )
        self.applied = index
        self.applying = max(self.applying, index)

    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snap_to(self, index: int) -> None:
        self.unstable.stable_snap_to(index)

    def restore(self, snap: Snapshot) -> None:
        """Replace the whole log by ``snap`` (the conflicting log is discarded)."""
        self.committed = snap.meta.index
        self.unstable.restore(snap)
