"""A node's storage held in memory: the Raft log (``MemoryStorage``) and the KV (``MemoryKV``).

Used for fast driver tests and as the live state of the unsafe ``--fsync never`` mode, where
it is checkpointed to disk only every few seconds (``aspen.node.volatile``). The driver writes
from its storage thread while the core and the HTTP handlers read from the event loop, so every
access takes one lock.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Sequence

from aspen.errors import ProtocolError
from aspen.kv.commands import CommandResult, decode
from aspen.kv.state_machine import MemoryKV
from aspen.raft.messages import ConfState, Entry, EntryKind, HardState, Snapshot
from aspen.raft.storage import MemoryStorage
from aspen.storage.space import UNLIMITED, MapUsage

log = logging.getLogger(__name__)


class LockedRaftStorage:
    """The core's read-only view of a MemoryStorage, taking the node storage's lock."""

    def __init__(self, inner: MemoryStorage, lock: threading.RLock) -> None:
        self._inner = inner
        self._lock = lock

    def initial_state(self) -> tuple[HardState, ConfState]:
        with self._lock:
            return self._inner.initial_state()

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        with self._lock:
            return self._inner.entries(lo, hi, max_bytes)

    def term(self, index: int) -> int:
        with self._lock:
            return self._inner.term(index)

    def first_index(self) -> int:
        with self._lock:
            return self._inner.first_index()

    def last_index(self) -> int:
        with self._lock:
            return self._inner.last_index()

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._inner.snapshot()


def apply_entries(kv: MemoryKV, committed: Sequence[Entry]) -> list[CommandResult | None]:
    """Apply committed entries to ``kv``; None for entries that hold no command."""
    results: list[CommandResult | None] = []
    for e in committed:
        if e.index <= kv.applied:
            results.append(None)  # already covered by an installed snapshot
        elif e.kind is EntryKind.NORMAL and e.data:
            try:
                results.append(kv.apply(e.index, decode(e.data)))
            except ProtocolError as err:  # same bytes on every replica: same no-op everywhere
                log.error("entry %d holds no valid command (%s): skipped", e.index, err)
                kv.mark_applied(e.index)
                results.append(None)
        else:
            kv.mark_applied(e.index)
            results.append(None)
    return results


class MemoryNodeStorage:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.raft = MemoryStorage()
        self.kv = MemoryKV()
        self._keys: list[str] | None = None
        self._view = LockedRaftStorage(self.raft, self.lock)

    @property
    def raft_view(self) -> LockedRaftStorage:
        return self._view

    # --- driver side --------------------------------------------------------------------------

    def write_ready(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        committed: Sequence[Entry],
        conf_state: ConfState | None,
    ) -> list[CommandResult | None]:
        with self.lock:
            if snapshot is not None:
                self.raft.apply_snapshot(snapshot)
                self.kv.restore(snapshot.data)
                self._keys = None
            self.raft.append(list(entries))
            if hard_state is not None:
                self.raft.set_hard_state(hard_state)
            results = apply_entries(self.kv, committed)
            if committed:
                self._keys = None
            if conf_state is not None:
                self.raft.set_conf_state(conf_state)
            return results

    def applied_index(self) -> int:
        with self.lock:
            return self.kv.applied

    def first_index(self) -> int:
        with self.lock:
            return self.raft.first_index()

    def last_index(self) -> int:
        with self.lock:
            return self.raft.last_index()

    def snapshot_image(self) -> tuple[int, ConfState, bytes]:
        with self.lock:
            return self.kv.applied, self.raft.initial_state()[1], self.kv.snapshot()

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        with self.lock:
            return self.raft.create_snapshot(index, conf_state, data)

    def compact(self, index: int) -> None:
        with self.lock:
            self.raft.compact(index)

    # --- reads --------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        with self.lock:
            return self.kv.get(key)

    def read(self, key: str) -> tuple[str | None, int]:
        with self.lock:
            return self.kv.get(key), self.kv.applied

    def scan(
        self, prefix: str, limit: int, start_after: str = ""
    ) -> tuple[list[tuple[str, str]], bool]:
        with self.lock:
            if self._keys is None:
                self._keys = sorted(self.kv.data)
            start = max(
                bisect.bisect_left(self._keys, prefix), bisect.bisect_right(self._keys, start_after)
            )
            out: list[tuple[str, str]] = []
            for key in self._keys[start:]:
                if not key.startswith(prefix):
                    break
                if len(out) == limit:
                    return out, True
                out.append((key, self.kv.data[key]))
            return out, False

    def conf_state(self) -> ConfState:
        with self.lock:
            return self.raft.initial_state()[1]

    def size_bytes(self) -> int:
        with self.lock:
            return sum(len(k) + len(v) for k, v in self.kv.data.items())

    def used_fraction(self) -> float:
        return 0.0

    def usage(self) -> MapUsage:
        return UNLIMITED

    def close(self) -> None:
        pass
