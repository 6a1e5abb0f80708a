"""Simulated time: a discrete-event queue, ordered by virtual time then by insertion.

Nothing in the simulator reads a wall clock. Time is an integer count of nanoseconds since the
start of the run; two events at the same instant run in the order they were scheduled, so a run
is a pure function of its seed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

NS_PER_MS = 1_000_000

Action = Callable[..., Any]


class Scheduler:
    """A heap of ``(time_ns, seq, action, args)``; ``seq`` breaks ties deterministically."""

    __slots__ = ("_heap", "_seq", "now", "processed")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Action, tuple[Any, ...]]] = []
        self._seq = 0
        self.now = 0
        """Virtual time of the event being run (or of the last one run)."""
        self.processed = 0
        """How many events have run."""

    def at(self, time_ns: int, action: Action, *args: Any) -> None:
        """Run ``action(*args)`` at virtual time ``time_ns`` (never earlier than now)."""
        if time_ns < self.now:
            time_ns = self.now
        self._seq += 1
        heapq.heappush(self._heap, (time_ns, self._seq, action, args))

    def after(self, delay_ns: int, action: Action, *args: Any) -> None:
        self.at(self.now + delay_ns, action, *args)

    def next_time(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)

    def run_until(self, time_ns: int) -> None:
        """Run every event scheduled at or before ``time_ns``; then the clock reads ``time_ns``."""
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= time_ns:
            t, _, action, args = pop(heap)
            self.now = t
            self.processed += 1
            action(*args)
        if time_ns > self.now:
            self.now = time_ns
