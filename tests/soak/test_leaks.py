from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.soak.leaks import (
    Check,
    Thresholds,
    data_growth_check,
    data_size_check,
    growth,
    growth_check,
    linear_fit,
    p99_drift_check,
    pooled_fit,
    rss_check,
    rss_segments_check,
)

TH = Thresholds()
MIB = float(1 << 20)


def series(f, seconds: int = 3600, step: int = 10) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    return [(float(t), f(t)) for t in range(0, seconds, step)]


@given(st.floats(-1e3, 1e3), st.floats(-1e6, 1e6))
def test_fit_recovers_an_exact_line(slope: float, intercept: float) -> None:
    fit = linear_fit([0, 1, 2, 3], [intercept + slope * x for x in range(4)])
    assert fit.slope == pytest.approx(slope, abs=1e-6)
    assert fit.intercept == pytest.approx(intercept, abs=1e-3)


def test_flat_rss_passes() -> None:
    check = rss_check("n1", series(lambda t: 80 * MIB), 60, TH)
    assert check.passed and check.value == 0


def test_leaking_rss_fails_with_its_slope() -> None:
    # 100 MiB/hour
    check = rss_check("n1", series(lambda t: 80 * MIB + t * 100 * MIB / 3600), 60, TH)
    assert not check.passed
    assert check.value == pytest.approx(100, rel=0.01)


def test_noisy_flat_rss_passes() -> None:
    rng = random.Random(1)
    check = rss_check("n1", series(lambda t: 80 * MIB + rng.uniform(-20, 20) * MIB), 60, TH)
    assert check.passed


def test_a_warmup_ramp_is_not_a_leak() -> None:
    ramp = series(lambda t: (20 + min(t, 900) / 900 * 300) * MIB)  # grows, then flat
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
    # 1.58x, but 15.7 ms: what a p99 of a few hundred operations does by chance.
    small = p99_drift_check(27.1, 42.8, TH)
    assert small.value == pytest.approx(1.579, abs=1e-3) and small.passed
    assert not p99_drift_check(27.1, 47.1, TH).passed
    # Two one-minute windows: shown, not judged.
    assert p99_drift_check(20.1, 43.3, TH, span_s=120).passed
    assert not p99_drift_check(20.1, 43.3, TH, span_s=600).passed


def test_data_size_against_live_data() -> None:
    assert data_size_check("n1", 50 * MIB, 10 * MIB, TH).passed
    assert not data_size_check("n1", 500 * MIB, 10 * MIB, TH).passed
    small = data_size_check("n1", 10 * MIB, 1000, TH)
    assert small.passed and small.name == "data_dir_size"


def test_pooled_fit_sees_growth_within_lifetimes_not_across_restarts() -> None:
    # A saw: every process starts at 50 MiB and stays flat; restarts look like drops.
    flat = [[(t + 600.0 * k, 50 * MIB) for t in range(0, 600, 10)] for k in range(6)]
    fit, intercepts = pooled_fit(flat)
    assert fit.slope == pytest.approx(0)
    assert intercepts == pytest.approx([50 * MIB] * 6)
    # Each process leaks 200 MiB/hour, restarted every 10 minutes: one line through all of it
    # would see almost nothing; the pooled fit sees the leak.
    leak = [
        [(t + 600.0 * k, (40 + 10 * k) * MIB + t * 200 * MIB / 3600) for t in range(0, 600, 10)]
        for k in range(6)
    ]
    assert pooled_fit(leak)[0].slope * 3600 / MIB == pytest.approx(200)
    assert pooled_fit(leak)[0].r2 == pytest.approx(1)
    flat_all = [p for seg in leak for p in seg]
    plain = linear_fit([t for t, _ in flat_all], [v for _, v in flat_all])
    assert pooled_fit([flat_all])[0].slope == pytest.approx(plain.slope)


def test_pooled_fit_of_one_segment_is_the_plain_fit() -> None:
    pts = [(float(t), 3.0 * t + 7 + (t % 3)) for t in range(50)]
    fit, (b,) = pooled_fit([pts])
    plain = linear_fit([t for t, _ in pts], [v for _, v in pts])
    assert fit.slope == pytest.approx(plain.slope)
    assert b == pytest.approx(plain.intercept)
    assert fit.r2 == pytest.approx(plain.r2)
    nothing, bs = pooled_fit([[(1.0, 5.0)]])
    assert nothing.slope == 0 and bs[0] != bs[0]  # NaN: too short to fit


def test_a_leak_across_restarts_fails_the_lifetime_check() -> None:
    leak = [
        [(t + 900.0 * k, 40 * MIB + t * 300 * MIB / 3600) for t in range(0, 900, 5)]
        for k in range(4)
    ]
    check = rss_segments_check("n2", leak, TH, "after 60s warm-up")
    assert not check.passed and check.value == pytest.approx(300, rel=0.01)
    assert "4 process lifetimes" in check.detail


def test_a_short_soak_cannot_call_a_settling_process_a_leak() -> None:
    # 3 MiB in 90 s is 120 MiB/hour with a clean fit, but only 3 MiB of growth: not a leak.
    settling = series(lambda t: 48 * MIB + t * 3 * MIB / 90, seconds=90, step=1)
    check = rss_check("n1", settling, 0, TH)
    assert check.value > TH.rss_mib_per_hour
    assert check.passed
    assert "fitted growth 3.0 MiB" in check.detail


def test_data_dir_growth() -> None:
    level = series(lambda t: (2 + min(t, 300) / 300) * MIB, seconds=7200)
    assert data_growth_check("n1", level, 600, TH).passed
    # No compaction: 25 MiB/hour for two hours.
    growing = series(lambda t: 2 * MIB + t * 25 * MIB / 3600, seconds=7200)
    check = data_growth_check("n1", growing, 600, TH)
    assert not check.passed and check.value == pytest.approx(25, rel=0.01)
    # The same slope over two minutes is 0.8 MiB: not enough to judge it growth.
    assert data_growth_check("n1", growing[:12], 0, TH).passed


def test_a_value_over_its_limit_is_never_a_plain_pass() -> None:
    assert p99_drift_check(10, 12, TH).result == "pass"
    assert p99_drift_check(10, 40, TH).result == "fail"
    # Over the 1.5x limit but only 15.7 ms more: passes, and says it was not judged on it.
    assert p99_drift_check(27.1, 42.8, TH).result == "not judged"
    short = p99_drift_check(20.1, 43.3, TH, span_s=120)
    assert short.result == "not judged" and "not judged" in short.detail
    assert short.to_json()["result"] == "not judged"
    noisy = Check("rss_slope", "n1", 71.5, 50.0, True, "MiB/hour", "r2=0.05")
    assert noisy.result == "not judged"
