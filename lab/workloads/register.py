"""A linearizable register per key: read / write / cas on K keys, every written value unique.

Unique values make a checker's counterexample unambiguous (a read names exactly the write it
saw). A CAS expects a value this slot wrote to that key earlier, so it can succeed when nobody
wrote in between and is still drawn without looking at results (the stream stays timing-free).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from lab.workloads.base import Invocation, slot_rng
from lab.workloads.checkers import LinearizableChecker


@dataclass(frozen=True, slots=True)
class Mix:
    read: float = 0.5
    write: float = 0.3
    cas: float = 0.2

    def __post_init__(self) -> None:
        if min(self.read, self.write, self.cas) < 0 or self.read + self.write + self.cas <= 0:
            raise ValueError("mix weights must be non-negative and not all zero")


@dataclass(slots=True)
class RegisterStream:
    seed: int
    slot: int
    keys: int
    mix: Mix
    _written: dict[str, list[int]] = field(default_factory=dict)
    _count: int = 0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = slot_rng(self.seed, self.slot, "register")

    def _fresh_value(self) -> int:
        self._count += 1
        return self.slot * 1_000_000_000 + self._count

    def next(self) -> Invocation:
        rng = self._rng
        key = f"k{rng.randrange(self.keys)}"
        f = rng.choices(("read", "write", "cas"), (self.mix.read, self.mix.write, self.mix.cas))[0]
        if f == "read":
            return Invocation("read", key)
        if f == "cas" and self._written.get(key):
            expected = rng.choice(self._written[key][-3:])
            new = self._fresh_value()
            self._written[key].append(new)
            return Invocation("cas", key, [expected, new])
        value = self._fresh_value()
        self._written.setdefault(key, []).append(value)
        return Invocation("write", key, value)


@dataclass(frozen=True, slots=True)
class RegisterWorkload:
    seed: int
    keys: int = 5
    mix: Mix = Mix()
    name: str = "register"
    model: str = "kv"
    final_reads_local: bool = False

    @property
    def checker(self) -> LinearizableChecker:
        return LinearizableChecker()

    def stream(self, slot: int) -> RegisterStream:
        return RegisterStream(self.seed, slot, self.keys, self.mix)

    def final_reads(self, nodes: Sequence[int]) -> list[tuple[int, Invocation]]:
        """One linearizable read of every key (through the leader, asked via the first node)."""
        return [(nodes[0], Invocation("read", f"k{k}")) for k in range(self.keys)]
