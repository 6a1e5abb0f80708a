"""Window namespacing: two windows of a soak never share a key."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from lab.soak.plan import window_prefix, window_seed
from lab.soak.workload import PrefixedWorkload
from lab.workloads import RegisterWorkload
from lab.workloads.base import Invocation


def window_workload(index: int, keys: int = 5, seed: int = 1) -> PrefixedWorkload:
    return PrefixedWorkload(
        RegisterWorkload(seed=window_seed(seed, index), keys=keys), window_prefix(index)
    )


def keys_of(workload: PrefixedWorkload, slots: int = 4, ops: int = 200) -> set[str]:
    keys = set()
    for slot in range(slots):
        stream = workload.stream(slot)
        for _ in range(ops):
            inv = stream.next()
            assert inv.key is not None
            keys.add(inv.key)
    keys |= {inv.key for _, inv in workload.final_reads([1, 2, 3]) if inv.key is not None}
    return keys


def test_keys_carry_the_window_prefix() -> None:
    keys = keys_of(window_workload(3))
    assert keys == {f"w0003-k{i}" for i in range(5)}
    assert [inv.key for _, inv in window_workload(3).final_reads([2, 1])] == [
        f"w0003-k{i}" for i in range(5)
    ]


@given(st.integers(0, 20000), st.integers(0, 20000), st.integers(1, 30), st.integers(1, 30))
def test_two_windows_never_share_keys(i: int, j: int, keys_i: int, keys_j: int) -> None:
    if i == j:
        return
    a = keys_of(window_workload(i, keys_i), slots=2, ops=20)
    b = keys_of(window_workload(j, keys_j), slots=2, ops=20)
    assert not a & b


def test_namespacing_changes_only_the_key() -> None:
    inner = RegisterWorkload(seed=5, keys=3)
    wrapped = PrefixedWorkload(inner, "w0001-")
    assert (wrapped.name, wrapped.model) == (inner.name, inner.model)
    plain, prefixed = inner.stream(2), wrapped.stream(2)
    for _ in range(100):
        p, q = plain.next(), prefixed.next()
        assert (q.f, q.value) == (p.f, p.value)
        assert q.key == f"w0001-{p.key}"
        assert re.fullmatch(r"w0001-k\d", q.key or "")


def test_keyless_operations_pass_through() -> None:
    class Keyless:
        name = "x"
        model = "kv"

        def stream(self, slot: int) -> Keyless:
            return self

        def next(self) -> Invocation:
            return Invocation("read", None)

        def final_reads(self, nodes: object) -> list[tuple[int, Invocation]]:
            return [(1, Invocation("read", None))]

    w = PrefixedWorkload(Keyless(), "w0000-")
    assert w.stream(0).next().key is None
    assert w.final_reads([1]) == [(1, Invocation("read", None))]
