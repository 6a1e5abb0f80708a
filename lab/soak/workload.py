"""A register workload whose keys live in one window's namespace (``w0003-k0``, ...).

Every window of a soak writes keys no earlier window touched, so each register starts absent in
the window's history and checking the window on its own is exactly as sound as checking the
whole soak: nothing a window reads can come from a write outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from lab.workloads.base import Invocation, OpStream, Workload
from lab.workloads.checkers import Checker


@dataclass(slots=True)
class PrefixedStream:
    inner: OpStream
    prefix: str

    def next(self) -> Invocation:
        inv = self.inner.next()
        return inv if inv.key is None else replace(inv, key=self.prefix + inv.key)


@dataclass(frozen=True, slots=True)
class PrefixedWorkload:
    """``inner`` (any keyed workload, e.g. `RegisterWorkload`) with ``prefix`` on every key."""

    inner: Workload
    prefix: str

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def checker(self) -> Checker:
        return self.inner.checker

    @property
    def final_reads_local(self) -> bool:
        return self.inner.final_reads_local

    def stream(self, slot: int) -> PrefixedStream:
        return PrefixedStream(self.inner.stream(slot), self.prefix)

    def final_reads(self, nodes: Sequence[int]) -> list[tuple[int, Invocation]]:
        return [
            (node, inv if inv.key is None else replace(inv, key=self.prefix + inv.key))
            for node, inv in self.inner.final_reads(nodes)
        ]
