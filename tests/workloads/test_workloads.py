from __future__ import annotations

import pytest

from lab.workloads import RegisterWorkload, SetWorkload
from lab.workloads.register import Mix


def take(stream, n: int) -> list:  # type: ignore[no-untyped-def]
    return [stream.next() for _ in range(n)]


def test_register_stream_is_a_function_of_seed_and_slot() -> None:
    a = take(RegisterWorkload(seed=7).stream(2), 200)
    b = take(RegisterWorkload(seed=7).stream(2), 200)
    c = take(RegisterWorkload(seed=8).stream(2), 200)
    assert a == b
    assert a != c


def test_register_written_values_are_unique_across_slots() -> None:
    values = []
    for slot in range(4):
        for inv in take(RegisterWorkload(seed=1).stream(slot), 300):
            if inv.f == "write":
                values.append(inv.value)
            elif inv.f == "cas":
                values.append(inv.value[1])
    assert len(values) == len(set(values)) > 0


def test_register_cas_expects_a_value_the_slot_wrote_to_that_key() -> None:
    written: dict[str, set[int]] = {}
    saw_cas = False
    for inv in take(RegisterWorkload(seed=3, keys=2).stream(0), 500):
        if inv.f == "write":
            written.setdefault(inv.key, set()).add(inv.value)
        elif inv.f == "cas":
            saw_cas = True
            assert inv.value[0] in written[inv.key]
            written[inv.key].add(inv.value[1])
    assert saw_cas


def test_register_mix_is_respected() -> None:
    ops = take(RegisterWorkload(seed=1, mix=Mix(read=1, write=0, cas=0)).stream(0), 50)
    assert {o.f for o in ops} == {"read"}
    with pytest.raises(ValueError):
        Mix(read=0, write=0, cas=0)


def test_register_final_reads_cover_every_key() -> None:
    reads = RegisterWorkload(seed=1, keys=3).final_reads([4, 5, 6])
    assert [(n, i.f, i.key) for n, i in reads] == [
        (4, "read", "k0"),
        (4, "read", "k1"),
        (4, "read", "k2"),
    ]


def test_set_adds_unique_elements_and_reads_every_node() -> None:
    adds = take(SetWorkload(seed=1).stream(0), 10) + take(SetWorkload(seed=1).stream(1), 10)
    assert len({a.value for a in adds}) == 20
    assert [n for n, _ in SetWorkload(seed=1).final_reads([1, 2, 3])] == [1, 2, 3]
