"""How the Raft core reads stable storage, and an in-memory implementation.

The core only ever READS storage through :class:`Storage`; writing what a ``Ready`` asks for is
the driver's job. ``MemoryStorage`` is the reference implementation: the simulator uses it to model
exactly what a node had persisted when it crashed, and ``aspen.storage.lmdb`` must pass the same
contract tests (``tests/raft/test_storage_contract.py``).

Log layout (as etcd's ``MemoryStorage``): the entries after the last snapshot, plus a dummy
entry at the snapshot's index carrying the snapshot's term, so ``term(first_index - 1)`` works.
"""

from __future__ import annotations

from typing import Protocol

from aspen.raft.errors import Compacted, InvariantViolation, Unavailable
from aspen.raft.messages import ConfState, Entry, HardState, Snapshot, SnapshotMeta


class Storage(Protocol):
    """Read-only view of a node's stable storage, as the core needs it."""

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted hard state and the configuration as of the last persisted entry."""
        ...

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries in ``[lo, hi)``; at least one if ``lo < hi``, then as many as fit ``max_bytes``.

        Raises ``Compacted`` if ``lo < first_index()``, ``Unavailable`` if ``hi > last_index()+1``.
        """
        ...

    def term(self, index: int) -> int:
        """Term of the entry at ``index``; valid for ``first_index()-1 <= index <= last_index()``.

        Raises ``Compacted`` below that range and ``Unavailable`` above it.
        """
        ...

    def first_index(self) -> int:
        """Index of the first entry still in the log (snapshot index + 1)."""
        ...

    def last_index(self) -> int:
        """Index of the last entry in the log (the snapshot index if the log is empty)."""
        ...

    def snapshot(self) -> Snapshot:
        """The most recent snapshot (``Snapshot()`` if none)."""
        ...


def limit_size(entries: list[Entry], max_bytes: int | None) -> list[Entry]:
    """The longest prefix within ``max_bytes``, but never fewer than one entry."""
    if max_bytes is None or not entries:
        return entries
    total = 0
    for i, e in enumerate(entries):
        total += e.size()
        if total > max_bytes and i > 0:
            return entries[:i]
    return entries


class MemoryStorage:
    """Storage held in memory. Also has the write side a driver (or the simulator) uses."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self._snapshot = Snapshot()
        # _ents[0] is the dummy entry at the snapshot index.
        self._ents: list[Entry] = [Entry(term=0, index=0)]
        self._conf_state = ConfState()

    # --- read side (the Storage protocol) ------------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self.hard_state, self._conf_state

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        offset = self._ents[0].index
        if lo <= offset:
            raise Compacted(f"index {lo} compacted (first is {offset + 1})")
        if hi > self.last_index() + 1:
            raise Unavailable(f"index {hi - 1} beyond last {self.last_index()}")
        return limit_size(self._ents[lo - offset : hi - offset], max_bytes)

    def term(self, index: int) -> int:
        offset = self._ents[0].index
        if index < offset:
            raise Compacted(f"index {index} compacted (first is {offset + 1})")
        if index - offset >= len(self._ents):
            raise Unavailable(f"index {index} beyond last {self.last_index()}")
        return self._ents[index - offset].term

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # --- write side ----------------------------------------------------------------------------

    def set_hard_state(self, hs: HardState) -> None:
        self.hard_state = hs

    def set_conf_state(self, cs: ConfState) -> None:
        """Record the configuration the applied entries produced (reported by initial_state)."""
        self._conf_state = cs

    def append(self, entries: list[Entry]) -> None:
        """Append, replacing any existing entries from ``entries[0].index`` on."""
        if not entries:
            return
        first = self.first_index()
        last_new = entries[-1].index
        if last_new < first:
            return  # all already compacted
        if entries[0].index < first:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._ents[0].index
        if offset > len(self._ents):
            raise InvariantViolation(
                f"missing log entries: last {self.last_index()}, appending at {entries[0].index}"
            )
        del self._ents[offset:]
        self._ents.extend(entries)

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the log with ``snap`` (entries after it are kept only if they agree)."""
        idx = snap.meta.index
        if idx <= self._snapshot.meta.index:
            return
        self._snapshot = snap
        self._conf_state = snap.meta.conf_state
        if self.first_index() <= idx <= self.last_index() and self.term(idx) == snap.meta.term:
            del self._ents[: idx - self._ents[0].index]
            self._ents[0] = Entry(term=snap.meta.term, index=idx)
        else:
            self._ents = [Entry(term=snap.meta.term, index=idx)]

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a state-machine image at ``index`` (which must be applied, hence in the log)."""
        if index <= self._snapshot.meta.index:
            return self._snapshot
        if index > self.last_index():
            raise InvariantViolation(f"snapshot index {index} > last index {self.last_index()}")
        self._snapshot = Snapshot(SnapshotMeta(index, self.term(index), conf_state), data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Discard entries up to and including ``index`` (must be covered by a snapshot)."""
        offset = self._ents[0].index
        if index <= offset:
            return
        if index > self.last_index():
            raise InvariantViolation(f"compact {index} > last index {self.last_index()}")
        term = self._ents[index - offset].term
        del self._ents[: index - offset]
        self._ents[0] = Entry(term=term, index=index)
