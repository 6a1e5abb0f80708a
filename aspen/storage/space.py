"""Whether one more write fits in the LMDB map: the decision behind a 507, made BEFORE proposing.

A full map must never stop a node, so a leader refuses a write that the map could not carry
through its whole life on every replica. Admitting an entry of ``n`` bytes costs, in the worst
case that must still succeed afterwards:

* the entry in the Raft log (``n``),
* the entry applied to the state machine (``n`` more in ``kv``),
* a snapshot of the state machine after it, written while the previous image still holds its
  pages (LMDB reuses freed pages only after the freeing transaction committed): ``kv + n``.
  Without that room the log could never be compacted again.

On top, a fixed ``reserve`` stays free for what must work on a full map: deletes (which need
free pages to rewrite a B-tree path), compaction's bookkeeping, hard-state updates. Deletes may
use half of it; writes may not touch it.

Every number comes from the map as it is now (:class:`MapUsage`, read in one transaction), plus
the cost of the writes already admitted but not yet applied (``pending``): a burst of writers
cannot slip past the check between two samples.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_BYTES = 4096
MIN_RESERVE = 512 << 10
RESERVE_SHARE = 32
"""The reserve is 1/32 of the map (at least ``MIN_RESERVE``): 512 KiB of a 16 MiB map."""


@dataclass(frozen=True, slots=True)
class MapUsage:
    """What the LMDB map holds now, in bytes of live pages (freed pages count as free)."""

    map_bytes: int
    used_bytes: int
    """Every live page: meta pages and every database's branch, leaf and overflow pages."""
    kv_bytes: int
    """Pages of the state machine: what a snapshot image of it will need, about."""
    log_bytes: int = 0
    snapshot_bytes: int = 0

    @property
    def free_bytes(self) -> int:
        return max(0, self.map_bytes - self.used_bytes)

    @property
    def fraction(self) -> float:
        return self.used_bytes / self.map_bytes if self.map_bytes else 0.0


UNLIMITED = MapUsage(map_bytes=1 << 62, used_bytes=0, kv_bytes=0)
"""The usage of a storage with no map (in memory): everything fits."""


def pages(n: int) -> int:
    """Bytes of whole pages a record of ``n`` bytes may take (plus one for its B-tree node)."""
    return (n + PAGE_BYTES - 1) // PAGE_BYTES * PAGE_BYTES + PAGE_BYTES


@dataclass(frozen=True, slots=True)
class Headroom:
    """The admission rule for one map; build it with :meth:`for_map`."""

    reserve_bytes: int

    @classmethod
    def for_map(cls, map_bytes: int) -> Headroom:
        return cls(max(MIN_RESERVE, map_bytes // RESERVE_SHARE))

    @staticmethod
    def write_cost(entry_bytes: int) -> int:
        """What admitting an entry adds before it is applied and snapshotted: log + kv + image."""
        return 3 * pages(entry_bytes)

    @staticmethod
    def delete_cost(entry_bytes: int) -> int:
        """A delete adds its log entry and a rewritten B-tree path; it frees the value's pages."""
        return 2 * pages(entry_bytes)

    def write_refusal(self, usage: MapUsage, entry_bytes: int, pending: int = 0) -> str | None:
        """None if a write of ``entry_bytes`` fits; otherwise why not (one line, for the 507)."""
        need = (
            usage.used_bytes
            + pending
            + self.write_cost(entry_bytes)
            + usage.kv_bytes
            + self.reserve_bytes
        )
        if need <= usage.map_bytes:
            return None
        return (
            f"data file full: a {entry_bytes}-byte write needs {need >> 10} KiB of the "
            f"{usage.map_bytes >> 10} KiB map (room for the log, the state and a snapshot; "
            f"{usage.used_bytes >> 10} KiB in use): delete keys or raise map_size"
        )

    def delete_refusal(self, usage: MapUsage, entry_bytes: int, pending: int = 0) -> str | None:
        """None if a delete fits; deletes may use half of the reserve, so space can be freed."""
        need = usage.used_bytes + pending + self.delete_cost(entry_bytes) + self.reserve_bytes // 2
        if need <= usage.map_bytes:
            return None
        return (
            f"data file full even for deletes: {usage.used_bytes >> 10} KiB of the "
            f"{usage.map_bytes >> 10} KiB map in use: snapshot to compact the log, or raise "
            "map_size"
        )
