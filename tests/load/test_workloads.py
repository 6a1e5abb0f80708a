"""The workload mixes and the pre-generated plans."""

from __future__ import annotations

import collections

import pytest

from lab.load.workloads import (
    OP_NAMES,
    VALUE_POOL,
    WORKLOADS,
    KeySpace,
    Mix,
    load_plan,
    parse_workloads,
    plan,
)

SPACE = KeySpace(1000, key_size=16, value_size=64)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("A", {"read": 0.5, "update": 0.5}),
        ("B", {"read": 0.95, "update": 0.05}),
        ("C", {"read": 1.0}),
        ("F", {"read": 0.5, "rmw": 0.5}),
        ("W", {"update": 1.0}),
    ],
)
def test_each_mix_issues_its_shares(name: str, expected: dict[str, float]) -> None:
    p = plan(WORKLOADS[name], SPACE, length=20_000, seed=5)
    counts = p.counts()
    for op in OP_NAMES:
        share = counts[op] / len(p)
        assert share == pytest.approx(expected.get(op, 0.0), abs=0.015), op


def test_plans_are_deterministic_per_seed_and_keys_stay_in_range() -> None:
    a = plan(WORKLOADS["A"], SPACE, length=5000, seed=1)
    assert a == plan(WORKLOADS["A"], SPACE, length=5000, seed=1)
    assert a.keys != plan(WORKLOADS["A"], SPACE, length=5000, seed=2).keys
    assert all(0 <= k < SPACE.records for k in a.keys)
    assert all(0 <= v < VALUE_POOL for v in a.values)


def test_uniform_and_zipfian_plans_differ_in_skew() -> None:
    def hottest_share(distribution: str) -> float:
        keys = plan(WORKLOADS["C"], SPACE, length=50_000, seed=1, distribution=distribution).keys
        return collections.Counter(keys).most_common(1)[0][1] / len(keys)

    assert hottest_share("zipfian") > 5 * hottest_share("uniform")


def test_keys_and_values_have_the_asked_sizes_and_need_no_escaping() -> None:
    keys = SPACE.keys()
    assert len(keys) == 1000 and len(set(keys)) == 1000
    assert {len(k) for k in keys} == {16}
    values = SPACE.values(seed=1)
    assert len(values) == VALUE_POOL and {len(v) for v in values} == {64}
    assert all(v.isalnum() for v in values)
    assert SPACE.values(seed=1) == values


def test_load_plan_inserts_every_record_once() -> None:
    p = load_plan(SPACE, seed=1)
    assert sorted(p.keys) == list(range(1000))
    assert p.counts()["insert"] == 1000


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown workloads"):
        parse_workloads("A,Z")
    assert [m.name for m in parse_workloads("a, c")] == ["A", "C"]
    with pytest.raises(ValueError, match="do not fit"):
        KeySpace(10**13, key_size=16)
    with pytest.raises(ValueError, match="sum to 1"):
        Mix("X", read=0.5)
