"""The simulator behind the property tests and the benchmark."""

from __future__ import annotations

import random

import pytest

from lab.history import pair
from lab.history.simulate import PlannedOp, random_plan, simulate


def test_a_sequential_run() -> None:
    plan = [
        PlannedOp(0, "write", value=1),
        PlannedOp(0, "read"),
        PlannedOp(0, "cas", value=[1, 2]),
        PlannedOp(0, "cas", value=[1, 3]),
        PlannedOp(0, "read"),
    ]
    events = simulate(plan)
    assert [(e.type, e.f, e.value) for e in events if e.type != "invoke"] == [
        ("ok", "write", 1), ("ok", "read", 1), ("ok", "cas", [1, 2]), ("ok", "cas", False),
        ("ok", "read", 2),
    ]  # fmt: skip
    times = [e.time for e in events]
    assert times == sorted(times)


def test_info_outcomes_take_a_fresh_process() -> None:
    plan = [
        PlannedOp(0, "write", value=1, outcome="info", applied=True),
        PlannedOp(0, "read"),
    ]
    events = simulate(plan)
    assert [e.process for e in events] == [0, 0, 1, 1]
    assert events[1].type == "info" and events[1].error == "timeout"
    assert events[3].value == 1  # it did take effect


def test_sets() -> None:
    plan = [PlannedOp(0, "add", "s", 1), PlannedOp(1, "add", "s", 2), PlannedOp(0, "read", "s")]
    assert simulate(plan)[-1].value == [1, 2]


def test_random_plans_are_seeded_and_pair_cleanly() -> None:
    a = simulate(random_plan(random.Random(3), 300, n_keys=4, n_slots=6, unknown=0.1))
    b = simulate(random_plan(random.Random(3), 300, n_keys=4, n_slots=6, unknown=0.1))
    assert a == b
    assert len(pair(a)) <= 300


def test_bad_timings_are_refused() -> None:
    with pytest.raises(ValueError, match="effect >= 1"):
        simulate([PlannedOp(0, "read", effect=0)])
