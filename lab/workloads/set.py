"""A grow-only set: clients add unique elements; at the end every node is read.

Each element is its own key (``set/<element>``), so an add is one put and the final read is a
prefix scan. The final read is done on EVERY node from its local state (after the recovery check
found them converged): an element acknowledged but missing on any node is a lost write, which is
exactly what an fsync-less node loses when all nodes are killed at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lab.workloads.base import Invocation
from lab.workloads.checkers import SetChecker

SET_KEY = "set"


@dataclass(slots=True)
class SetStream:
    slot: int
    _count: int = 0

    def next(self) -> Invocation:
        self._count += 1
        return Invocation("add", SET_KEY, self.slot * 1_000_000_000 + self._count)


@dataclass(frozen=True, slots=True)
class SetWorkload:
    seed: int
    name: str = "set"
    model: str = "set"
    final_reads_local: bool = True
    """Every node is read from its own state: a write lost on any one node shows."""

    @property
    def checker(self) -> SetChecker:
        return SetChecker()

    def stream(self, slot: int) -> SetStream:
        return SetStream(slot)

    def final_reads(self, nodes: Sequence[int]) -> list[tuple[int, Invocation]]:
        return [(n, Invocation("read", SET_KEY)) for n in nodes]
