from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.soak.plan import (
    FAULT_MAX_S,
    MIN_WINDOW_S,
    fault_order,
    format_duration,
    parse_duration,
    plan_windows,
    window_prefix,
    window_schedule,
    window_seed,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("2m", 120),
        ("8h", 8 * 3600),
        ("1h30m", 5400),
        ("1h 30m 15s", 5415),
        ("1.5h", 5400),
        ("45", 45),
        (" 2M ", 120),
        ("1d", 86400),
        (".5m", 30),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "   ", "abc", "0", "0s", "-5m", "5x", "m", "1h-2m", "nan"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(1, 10 * 86400))
def test_format_is_the_inverse_of_parse(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_reads_like_the_cli() -> None:
    assert [format_duration(s) for s in (120, 8 * 3600, 5400, 45, 3605)] == [
        "2m",
        "8h",
        "1h30m",
        "45s",
        "1h0m5s",
    ]


@pytest.mark.parametrize(
    ("duration", "window", "expected"),
    [
        (120, 60, [60.0, 60.0]),
        (90, 60, [45.0, 45.0]),  # shorter windows, still a first and a last
        (30, 60, [15.0, 15.0]),
        (15, 60, [15.0]),  # too short for two windows of MIN_WINDOW_S
        (8 * 3600, 60, [60.0] * 480),
        (100, 30, [25.0] * 4),
    ],
)
def test_window_plan(duration: float, window: float, expected: list[float]) -> None:
    assert plan_windows(duration, window) == expected


@given(st.floats(1, 86400), st.floats(1, 3600))
def test_windows_cover_the_duration_and_never_exceed_the_window(d: float, w: float) -> None:
    lengths = plan_windows(d, w)
    assert sum(lengths) == pytest.approx(d)
    assert all(x <= w * (1 + 1e-9) or len(lengths) == 2 for x in lengths)
    assert len(lengths) >= 2 or d < 2 * MIN_WINDOW_S
    with pytest.raises(ValueError):
        plan_windows(0, w)


def test_window_prefixes_are_distinct_and_sortable() -> None:
    prefixes = [window_prefix(i) for i in range(2000)]
    assert prefixes[3] == "w0003-"
    assert len(set(prefixes)) == len(prefixes) == 2000
    assert prefixes == sorted(prefixes)
    assert window_prefix(10000) == "w10000-"
    with pytest.raises(ValueError):
        window_prefix(-1)


def test_window_seeds_differ_and_repeat_with_the_soak_seed() -> None:
    seeds = [window_seed(7, i) for i in range(100)]
    assert len(set(seeds)) == 100
    assert seeds == [window_seed(7, i) for i in range(100)]
    assert seeds != [window_seed(8, i) for i in range(100)]


FAULTS = ["a", "b", "c", "d"]


def test_each_window_has_one_fault_inside_it() -> None:
    for length in (15.0, 60.0, 600.0):
        (w,) = window_schedule(1, 0, length, FAULTS)
        assert 0 < w.start < w.end < length
        assert w.end - w.start <= FAULT_MAX_S
        assert length - w.end > 0.1 * length - 1e-9  # steady load after the fault


def test_faults_rotate_through_the_scenario() -> None:
    got = [window_schedule(3, i, 60, FAULTS)[0].fault for i in range(8)]
    assert sorted(got[:4]) == FAULTS
    assert got[4:] == got[:4]
    assert got[:4] == fault_order(3, FAULTS)
    assert fault_order(3, FAULTS) == fault_order(3, list(reversed(FAULTS)))
    assert window_schedule(3, 2, 60, FAULTS) == window_schedule(3, 2, 60, FAULTS)
    assert window_schedule(3, 0, 60, []) == []
