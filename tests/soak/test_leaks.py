from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.soak.leaks import (
    Thresholds,
    data_size_check,
    growth,
    growth_check,
    linear_fit,
    p99_drift_check,
    rss_check,
)

TH = Thresholds()
MB = 1e6


def series(f, seconds: int = 3600, step: int = 10) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    return [(float(t), f(t)) for t in range(0, seconds, step)]


@given(st.floats(-1e3, 1e3), st.floats(-1e6, 1e6))
def test_fit_recovers_an_exact_line(slope: float, intercept: float) -> None:
    fit = linear_fit([0, 1, 2, 3], [intercept + slope * x for x in range(4)])
    assert fit.slope == pytest.approx(slope, abs=1e-6)
    assert fit.intercept == pytest.approx(intercept, abs=1e-3)


def test_flat_rss_passes() -> None:
    check = rss_check("n1", series(lambda t: 80 * MB), 60, TH)
    assert check.passed and check.value == 0


def test_leaking_rss_fails_with_its_slope() -> None:
    # 100 MB/hour
    check = rss_check("n1", series(lambda t: 80 * MB + t * 100 * MB / 3600), 60, TH)
    assert not check.passed
    assert check.value == pytest.approx(100, rel=0.01)


def test_noisy_flat_rss_passes() -> None:
    rng = random.Random(1)
    check = rss_check("n1", series(lambda t: 80 * MB + rng.uniform(-20, 20) * MB), 60, TH)
    assert check.passed


def test_a_warmup_ramp_is_not_a_leak() -> None:
    ramp = series(lambda t: (20 + min(t, 900) / 900 * 300) * MB)  # grows, then flat
    assert not rss_check("n1", ramp, 0, TH).passed
    assert rss_check("n1", ramp, 900, TH).passed


def test_fd_growth_ignores_one_spike_but_catches_a_trend() -> None:
    spike = series(lambda t: 500 if t == 1800 else 20)
    assert growth(spike, 0) == 0
    trend = series(lambda t: 20 + t // 60)
    check = growth_check("open_fds", "n1", trend, 0, TH.fd_growth, "fds")
    assert not check.passed and check.value > 50


def test_p99_drift() -> None:
    assert p99_drift_check(10, 12, TH).passed
    assert not p99_drift_check(10, 40, TH).passed


def test_data_size_against_live_data() -> None:
    assert data_size_check("n1", 50 * MB, 10 * MB, TH).passed
    assert not data_size_check("n1", 500 * MB, 10 * MB, TH).passed
    small = data_size_check("n1", 10 * MB, 1000, TH)
    assert small.passed and small.name == "data_dir_size"
