from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.chaos.schedule import Timing, build_schedule


def test_same_seed_same_schedule() -> None:
    a = build_schedule(7, 60, ["partition", "kill"])
    assert a == build_schedule(7, 60, ["partition", "kill"])
    assert a != build_schedule(8, 60, ["partition", "kill"])


@given(
    seed=st.integers(0, 2**32),
    duration=st.floats(0, 600),
    faults=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3),
)
def test_windows_are_ordered_disjoint_and_inside_the_run(
    seed: int, duration: float, faults: list[str]
) -> None:
    timing = Timing()
    windows = build_schedule(seed, duration, faults, timing)
    for w in windows:
        assert timing.warmup <= w.start < w.end <= duration - timing.tail + 1e-3
        assert w.fault in faults
    for a, b in itertools.pairwise(windows):
        assert a.end < b.start


def test_every_fault_gets_a_turn_when_time_allows() -> None:
    windows = build_schedule(1, 120, ["a", "b", "c"])
    assert {w.fault for w in windows} == {"a", "b", "c"}


def test_no_faults_no_windows_and_too_short_a_run_has_none() -> None:
    assert build_schedule(1, 60, []) == []
    assert build_schedule(1, 5, ["a"]) == []


def test_bad_timing_is_refused() -> None:
    with pytest.raises(ValueError):
        Timing(fault=0)
    with pytest.raises(ValueError):
        Timing(quiet=-1)
