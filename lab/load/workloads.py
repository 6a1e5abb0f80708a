"""YCSB's core workloads (A, B, C, F) plus W (writes only), and the plan a run executes.

A *plan* is everything a load run decides before it starts measuring: the operation kinds, the
keys (by record number) and the values, as flat arrays, so the hot loop only indexes into them.
Keys are fixed-width (``user`` + zero-padded record number, ``key_size`` bytes) and values are a
small pool of random printable strings of ``value_size`` bytes: nothing in either needs JSON
escaping, so request bodies are built by joining bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lab.load.distributions import chooser, sample, uniforms

READ = 0
UPDATE = 1
RMW = 2
INSERT = 3
OP_NAMES = ("read", "update", "rmw", "insert")

VALUE_POOL = 64
"""Distinct values per run; an update writes one of them (no per-operation allocation)."""

_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "u1")


@dataclass(frozen=True, slots=True)
class Mix:
    """One workload: the share of each operation kind (they sum to 1)."""

    name: str
    read: float = 0.0
    update: float = 0.0
    rmw: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        shares = (self.read, self.update, self.rmw)
        if min(shares) < 0 or abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"workload {self.name}: shares must be >= 0 and sum to 1")

    @property
    def writes(self) -> bool:
        return self.update > 0 or self.rmw > 0


WORKLOADS: dict[str, Mix] = {
    "A": Mix("A", read=0.5, update=0.5, description="update heavy: 50% read, 50% update"),
    "B": Mix("B", read=0.95, update=0.05, description="read mostly: 95% read, 5% update"),
    "C": Mix("C", read=1.0, description="read only"),
    "F": Mix("F", read=0.5, rmw=0.5, description="50% read, 50% read-modify-write (read, cas)"),
    "W": Mix("W", update=1.0, description="write only"),
}


def parse_workloads(text: str) -> list[Mix]:
    """``"A,B,C"`` -> the mixes, in order; unknown names raise ValueError."""
    names = [n.strip().upper() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown or not names:
        raise ValueError(f"unknown workloads {unknown}; known: {', '.join(WORKLOADS)}")
    return [WORKLOADS[n] for n in names]


@dataclass(frozen=True, slots=True)
class KeySpace:
    """The records of a run: ``records`` keys of ``key_size`` bytes, values of ``value_size``."""

    records: int
    key_size: int = 16
    value_size: int = 64
    prefix: str = "user"

    def __post_init__(self) -> None:
        width = self.key_size - len(self.prefix)
        if self.records < 1 or width < len(str(self.records - 1)):
            raise ValueError(f"{self.records} records do not fit in {self.key_size}-byte keys")
        if self.value_size < 1:
            raise ValueError("value_size must be >= 1")

    def keys(self) -> list[bytes]:
        width = self.key_size - len(self.prefix)
        return [f"{self.prefix}{i:0{width}d}".encode() for i in range(self.records)]

    def values(self, seed: int) -> list[bytes]:
        draws = uniforms(VALUE_POOL * self.value_size, seed, "values")
        idx = (draws * len(_ALPHABET)).astype(np.int64)
        raw = _ALPHABET[idx].tobytes()
        n = self.value_size
        return [raw[i * n : (i + 1) * n] for i in range(VALUE_POOL)]


@dataclass(frozen=True, slots=True)
class Plan:
    """Pre-generated operations: the i-th operation is ``ops[i % len]`` on ``keys[i % len]``
    writing value ``values[i % len]`` (an index into the value pool)."""

    mix: Mix
    ops: list[int]
    keys: list[int]
    values: list[int]

    def __len__(self) -> int:
        return len(self.ops)

    def counts(self) -> dict[str, int]:
        out = {name: 0 for name in OP_NAMES}
        for op in self.ops:
            out[OP_NAMES[op]] += 1
        return out


def _ops(mix: Mix, n: int, seed: int) -> npt.NDArray[np.int64]:
    u = uniforms(n, seed, f"ops/{mix.name}")
    edges = np.cumsum([mix.read, mix.update, mix.rmw])
    return np.minimum(np.searchsorted(edges, u, side="right"), RMW).astype(np.int64)


def plan(
    mix: Mix,
    space: KeySpace,
    *,
    length: int,
    seed: int,
    distribution: str = "zipfian",
    theta: float = 0.99,
) -> Plan:
    """``length`` operations of ``mix`` over ``space``, keys chosen by ``distribution``."""
    if length < 1:
        raise ValueError("length must be >= 1")
    keys = sample(chooser(distribution, space.records, theta), length, seed, f"keys/{mix.name}")
    values = (uniforms(length, seed, f"values/{mix.name}") * VALUE_POOL).astype(np.int64)
    ops = _ops(mix, length, seed)
    return Plan(mix, ops.tolist(), keys.tolist(), values.tolist())


def load_plan(space: KeySpace, seed: int) -> Plan:
    """The load phase: insert every record once, in order."""
    n = space.records
    values = (uniforms(n, seed, "values/load") * VALUE_POOL).astype(np.int64)
    return Plan(Mix("load", update=1.0), [INSERT] * n, list(range(n)), values.tolist())
