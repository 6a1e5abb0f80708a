"""The shape every workload has: per-slot operation streams, final reads, a checker.

A run has ``concurrency`` worker *slots*. Each slot draws its operations from its own stream,
seeded from the run's seed and the slot number, so the sequence of operations a slot issues does
not depend on timing: same seed, same schedule. (Jepsen's *process* is a slot's current
identity: after an ``info`` the slot continues as a new process, since the old one may still have
an operation in flight forever.)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from lab.history.op import COMPARE_FAILED

if TYPE_CHECKING:
    from lab.workloads.checkers import Checker


@dataclass(frozen=True, slots=True)
class Invocation:
    """An operation a client is asked to perform (the ``invoke`` event's f/key/value)."""

    f: str
    key: str | None
    value: Any = None


@dataclass(frozen=True, slots=True)
class Completion:
    """What the client saw: ``ok`` (with the result value), ``fail`` (definitely did not
    happen) or ``info`` (unknown). A cas whose compare failed is `compare_failed`, not a
    ``fail``: it happened, and saw the register hold something else."""

    type: Literal["ok", "fail", "info"]
    value: Any = None
    error: str | None = None
    revision: int | None = None
    """On ``ok``, where the system says it took effect (`lab.history.op.Op.revision`)."""

    @classmethod
    def compare_failed(cls, revision: int | None = None) -> Completion:
        """A cas that ran and found the register not holding its expected value (an ``ok``
        observation, `lab.history.op.COMPARE_FAILED`, that the checker uses)."""
        return cls("ok", COMPARE_FAILED, revision=revision)


class OpStream(Protocol):
    def next(self) -> Invocation: ...


class Workload(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str:
        """The checker model the history is checked against (``kv``, ``set``)."""
        ...

    @property
    def checker(self) -> Checker:
        """What the history of this workload must satisfy (the workload's own checker)."""
        ...

    def stream(self, slot: int) -> OpStream: ...

    def final_reads(self, nodes: Sequence[int]) -> list[tuple[int, Invocation]]:
        """Reads to run after the faults heal, as (node to ask, invocation)."""
        ...

    @property
    def final_reads_local(self) -> bool:
        """Final reads see each node's own state (stale) rather than the leader's."""
        ...


def slot_rng(seed: int, slot: int, purpose: str) -> random.Random:
    """An RNG private to one slot and purpose, stable across runs with the same seed."""
    return random.Random(f"{seed}/{purpose}/{slot}")
