"""When faults happen: a seeded, timing-only plan of fault windows for one run.

The plan is a pure function of the seed and the run's shape, so a rerun with the same seed
injects the same kinds of faults at the same offsets. What a fault targets when it depends on
the live cluster (the current leader) is decided when the window opens, from the window's own
seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FaultWindow:
    start: float
    """Seconds since the start of the workload."""
    end: float
    fault: str
    """The nemesis that opens and closes this window."""
    seed: int
    """Seeds the nemesis's own choices (which node, which grudge) for this window."""


@dataclass(frozen=True, slots=True)
class Timing:
    warmup: float = 2.0
    """Fault-free seconds at the start, so the cluster is serving before anything breaks."""
    fault: float = 4.0
    """Mean length of a fault window."""
    quiet: float = 2.0
    """Mean fault-free gap between windows."""
    tail: float = 2.0
    """Fault-free seconds at the end, before the final heal and reads."""
    jitter: float = 0.25
    """Each length is drawn uniformly within +/- this fraction of its mean."""

    def __post_init__(self) -> None:
        for name in ("warmup", "fault", "quiet", "tail"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.fault <= 0:
            raise ValueError("fault must be > 0")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")


def room_for_a_fault(timing: Timing) -> float:
    """The shortest ``--duration`` whose schedule always holds a fault window: the warm-up,
    the longest a first window may be drawn, and the tail. A shorter run may inject nothing
    and still come out valid, which says nothing about faults."""
    return timing.warmup + timing.fault * (1 + timing.jitter) + timing.tail


def build_schedule(
    seed: int, duration: float, faults: Sequence[str], timing: Timing = Timing()
) -> list[FaultWindow]:
    """Fault windows cycling through ``faults`` (in a seeded order) within ``duration``."""
    if not faults:
        return []
    rng = random.Random(f"{seed}/schedule")

    def jittered(mean: float) -> float:
        return mean * rng.uniform(1 - timing.jitter, 1 + timing.jitter)

    order = list(faults)
    rng.shuffle(order)
    windows: list[FaultWindow] = []
    t = timing.warmup
    limit = duration - timing.tail
    i = 0
    while True:
        length = jittered(timing.fault)
        if t + length > limit:
            break
        windows.append(
            FaultWindow(
                round(t, 3), round(t + length, 3), order[i % len(order)], rng.getrandbits(32)
            )
        )
        t += length + jittered(timing.quiet)
        i += 1
    return windows
