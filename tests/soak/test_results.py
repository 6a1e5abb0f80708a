"""results.json assembled from synthetic window results and synthetic resource series."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab.soak.results import default_warmup
from tests.soak.synth import MIB, resource_rows, results_of, window

NODES = ("n1", "n2", "n3")
NODE_CHECKS = ("rss_slope", "fd_growth", "thread_growth", "data_dir_growth", "data_dir_size")


def checks(res: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(c["name"], c["node"]): c for c in res["leaks"]["checks"]}


def test_a_clean_soak_is_valid_with_every_check_present() -> None:
    windows = [window(i) for i in range(10)]
    res = results_of(list(reversed(windows)), resource_rows(600))
    json.dumps(res, allow_nan=False)  # strict JSON: no NaN anywhere
    assert res["valid"] and res["complete"] and not res["running"]
    assert res["verdicts"] == {"windows": "valid", "leaks": "valid"}
    assert res["kind"] == "aspen-soak"
    got = checks(res)
    assert set(got) == {(n, node) for n in NODE_CHECKS for node in NODES} | {("p99_drift", None)}
    assert all(c["passed"] for c in got.values())
    assert [w["index"] for w in res["windows"]] == list(range(10))
    assert res["ops"]["total"] == {"ok": 50_000, "compare_failed": 0, "fail": 1000, "info": 30}
    assert res["throughput"]["ok_per_s"] == pytest.approx(50_000 / 600, abs=0.01)
    assert res["latency_ms"]["ok"]["p99"] == pytest.approx(20, rel=0.01)
    assert res["recovery_seconds"] == pytest.approx(0.34)
    assert res["windows_checked"] == res["windows_planned"] == 10
    flat = {"first": 50 * MIB, "last": 50 * MIB, "max": 50 * MIB}
    assert res["resources"]["n1"]["rss_bytes"] == flat
    # Order: by check, then node; the soak-wide drift last.
    names = [c["name"] for c in res["leaks"]["checks"]]
    assert names[:3] == ["rss_slope"] * 3 and names[-1] == "p99_drift"


def test_an_rss_leak_fails_its_node_only() -> None:
    def rss(node: str, t: float) -> float:
        return 50 * MIB + (t * 400 * MIB / 3600 if node == "n2" else 0)

    res = results_of([window(i) for i in range(120)], resource_rows(7200, step=10, rss=rss))
    got = checks(res)
    assert not got["rss_slope", "n2"]["passed"]
    assert got["rss_slope", "n2"]["value"] == pytest.approx(400, rel=0.01)
    assert got["rss_slope", "n1"]["passed"] and got["rss_slope", "n3"]["passed"]
    assert res["verdicts"] == {"windows": "valid", "leaks": "invalid"}
    assert not res["valid"]
    fit = res["leaks"]["fits"]["rss"]["n2"]
    assert fit["slope_mib_per_hour"] == got["rss_slope", "n2"]["value"]
    (seg,) = fit["segments"]
    assert seg["t0"] == 60.0  # the warm-up is skipped


def test_restarts_are_not_leaks_but_a_leak_between_restarts_is() -> None:
    def pid(node: str, t: float) -> int:
        return int(t // 900)  # every node restarted every 15 minutes

    def saw(node: str, t: float) -> float:
        age = t % 900
        start = 12 * MIB if age < 5 else 50 * MIB  # a starting process is small
        return start + (age * 300 * MIB / 3600 if node == "n3" else 0)

    res = results_of([window(i) for i in range(120)], resource_rows(7200, step=5, rss=saw, pid=pid))
    got = checks(res)
    assert got["rss_slope", "n1"]["passed"] and got["rss_slope", "n2"]["passed"]
    assert got["rss_slope", "n1"]["value"] == pytest.approx(0, abs=0.5)
    assert not got["rss_slope", "n3"]["passed"]
    assert got["rss_slope", "n3"]["value"] == pytest.approx(300, rel=0.02)
    assert "8 restarts" in got["rss_slope", "n3"]["detail"]
    assert len(res["leaks"]["fits"]["rss"]["n3"]["segments"]) == 8
    assert res["resources"]["n1"]["restarts"] == 8


def test_fd_and_thread_growth() -> None:
    res = results_of(
        [window(i) for i in range(10)],
        resource_rows(
            600,
            fds=lambda n, t: 25 + (t / 10 if n == "n1" else 0),
            threads=lambda n, t: 6 + (t // 20 if n == "n3" else 0),
        ),
    )
    got = checks(res)
    assert not got["fd_growth", "n1"]["passed"] and got["fd_growth", "n1"]["value"] > 40
    assert got["fd_growth", "n2"]["passed"]
    assert not got["thread_growth", "n3"]["passed"]
    assert not res["valid"]


def test_data_dir_without_compaction() -> None:
    res = results_of(
        [window(i) for i in range(120)],
        resource_rows(7200, step=10, data=lambda n, t: 2 * MIB + t * 30 * MIB / 3600),
    )
    got = checks(res)
    assert not got["data_dir_growth", "n1"]["passed"]
    assert got["data_dir_growth", "n1"]["value"] == pytest.approx(30, rel=0.01)
    assert got["data_dir_size", "n1"]["passed"]  # 62 MiB is still small in absolute terms


@pytest.mark.parametrize(
    ("bad", "verdict"),
    [
        (window(3, verdicts={"linearizable": "invalid", "recovery": "valid"}), "invalid"),
        (window(3, verdicts={"linearizable": "unknown", "recovery": "valid"}), "unknown"),
        (window(3, verdicts={"linearizable": "valid", "recovery": "invalid"}), "invalid"),
        (window(3, errors=["heal of kill failed"]), "invalid"),
    ],
)
def test_one_bad_window_makes_the_soak_not_valid(bad: Any, verdict: str) -> None:
    windows = [window(i) for i in range(6) if i != 3] + [bad]
    res = results_of(windows, resource_rows(360))
    assert res["verdicts"]["windows"] == verdict
    assert res["verdicts"]["leaks"] == "valid"
    assert not res["valid"]
    assert res["windows"][3]["status"] == verdict


def test_an_interrupted_window_counts_only_if_it_found_a_violation() -> None:
    cut = window(2, length_s=20, verdicts={"linearizable": "valid", "recovery": "unknown"})
    cut.interrupted = True
    res = results_of([window(0), window(1), cut], resource_rows(150), interrupted=True, planned=5)
    assert res["verdicts"]["windows"] == "valid"
    assert res["interrupted"] and not res["complete"]
    assert res["windows_checked"] == 3 and res["windows_planned"] == 5
    assert res["windows"][2]["status"] == "interrupted"
    cut.verdicts = {"linearizable": "invalid", "recovery": "unknown"}
    res = results_of([window(0), window(1), cut], resource_rows(150), interrupted=True)
    assert res["verdicts"]["windows"] == "invalid"


def test_p99_drift_compares_the_first_and_last_window() -> None:
    windows = [window(i, length_s=150, steady_p99_ms=10.0) for i in range(4)]
    windows.append(window(4, length_s=150, steady_p99_ms=40.0, p99_ms=45.0))
    res = results_of(windows, resource_rows(750))
    drift = checks(res)["p99_drift", None]
    assert not drift["passed"]
    assert drift["value"] == pytest.approx(4.0, rel=0.01)
    assert res["leaks"]["fits"]["p99"]["basis"] == "window"
    assert res["leaks"]["fits"]["p99"]["first_windows"] == [0]
    assert res["leaks"]["fits"]["p99"]["last_windows"] == [4]
    # The same windows a minute each: five minutes of soak is too short to judge.
    short = [window(i, steady_p99_ms=10.0 if i < 4 else 40.0) for i in range(5)]
    drift = checks(results_of(short, resource_rows(300)))["p99_drift", None]
    assert drift["passed"] and drift["value"] == 4.0
    assert drift["detail"].startswith("not judged: 300 s of soak is too short")


def test_p99_drift_compares_quarters_by_their_median() -> None:
    # 20 windows: the first five against the last five; one slow window is not a drift.
    noisy = [window(i, steady_p99_ms=90.0 if i == 19 else 40.0) for i in range(20)]
    res = results_of(noisy, resource_rows(1200, step=10))
    drift = checks(res)["p99_drift", None]
    assert drift["passed"] and drift["value"] == 1.0
    info = res["leaks"]["fits"]["p99"]
    assert info["basis"] == "windows"
    assert info["first_windows"] == [0, 1, 2, 3, 4]
    assert info["last_windows"] == [15, 16, 17, 18, 19]
    assert "median steady-state p99" in drift["detail"] and "first 5 windows" in drift["detail"]
    # A sustained drift moves the median.
    drifting = [window(i, steady_p99_ms=40.0 + 4 * i) for i in range(20)]
    drift = checks(results_of(drifting, resource_rows(1200, step=10)))["p99_drift", None]
    assert not drift["passed"] and drift["value"] == pytest.approx(
        108 / 48, rel=1e-3
    )  # window 17 / window 2


def test_p99_drift_compares_hours_in_a_long_soak() -> None:
    windows = [window(i, steady_p99_ms=10.0 if i < 100 else 30.0) for i in range(180)]
    res = results_of(windows, resource_rows(180 * 60, step=30))
    drift = checks(res)["p99_drift", None]
    info = res["leaks"]["fits"]["p99"]
    assert info["basis"] == "hour"
    assert info["first_windows"] == list(range(60))
    assert info["last_windows"] == list(range(120, 180))
    assert drift["value"] == pytest.approx(3.0, rel=0.01) and not drift["passed"]
    assert "first hour" in drift["detail"]
    # The same soak with a flat p99 passes.
    flat = results_of([window(i) for i in range(180)], resource_rows(180 * 60, step=30))
    assert checks(flat)["p99_drift", None]["passed"]


def test_no_samples_is_a_failed_check_not_a_pass() -> None:
    rows = resource_rows(300) + resource_rows(300, nodes=("n4",), pid=lambda _n, _t: None)
    res = results_of([window(i) for i in range(5)], rows)
    got = checks(res)
    for name in NODE_CHECKS:
        assert not got[name, "n4"]["passed"]
        assert got[name, "n4"]["detail"] == "not enough samples to judge"
        # shown as what it is: neither a pass nor a leak found (it showed FAIL at value 0)
        assert got[name, "n4"]["result"] == "not judged"
    assert res["verdicts"]["leaks"] == "unknown"
    assert not res["valid"]
    assert res["resources"]["n4"]["rss_bytes"] is None


def test_a_configured_node_never_sampled_is_not_judged() -> None:
    res = results_of([window(i) for i in range(5)], resource_rows(300, nodes=("n1", "n2")))
    got = checks(res)  # CONFIG says 3 nodes
    assert not got["rss_slope", "n3"]["passed"]
    assert res["verdicts"]["leaks"] == "unknown"
    leak = resource_rows(300, nodes=("n1", "n2"), fds=lambda n, t: 20 + t)
    assert results_of([window(i) for i in range(5)], leak)["verdicts"]["leaks"] == "invalid"


def test_one_window_has_no_drift_to_measure() -> None:
    res = results_of([window(0, length_s=15)], resource_rows(15, step=1), warmup_s=3)
    drift = checks(res)["p99_drift", None]
    assert drift["passed"] and "nothing to compare" in drift["detail"]


def test_a_running_soak_and_errors() -> None:
    res = results_of([window(0)], resource_rows(60), final=False, planned=4)
    assert res["running"] and not res["complete"]
    res = results_of([window(0), window(1)], resource_rows(120), errors=["soak failed: boom"])
    assert not res["valid"] and res["errors"] == ["soak failed: boom"]


def test_default_warmup() -> None:
    assert default_warmup(120) == 30
    assert default_warmup(8 * 3600) == 600
