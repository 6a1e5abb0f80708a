"""The engine against a fake store: bounds, accounting, coordinated omission, ramps, Ctrl-C."""

from __future__ import annotations

import asyncio

import numpy as np

from lab.load.engine import Phase, Ramp, Tally, run_phase, run_ramp
from lab.load.workloads import WORKLOADS, KeySpace, plan
from tests.load.fakes import FakeTarget

SPACE = KeySpace(100)


def a_plan(name: str = "A", length: int = 10_000):  # type: ignore[no-untyped-def]
    return plan(WORKLOADS[name], SPACE, length=length, seed=1)


async def test_closed_loop_is_bounded_by_operations() -> None:
    target = FakeTarget()
    t = await run_phase(target, a_plan(), Phase("A", "closed", 30.0, 500, 8))
    s = t.summary()
    assert s["ops"] == s["ok"] == t.done == 500
    assert t.elapsed < 5.0
    assert target.calls["put"] + target.calls["get"] == 500
    assert set(s["by_op"]) == {"read", "update"}
    assert s["by_op"]["read"]["ops"] + s["by_op"]["update"]["ops"] == 500
    assert s["latency_ms"]["count"] == 500 and s["mode"] == "closed"


async def test_closed_loop_is_bounded_by_time() -> None:
    t = await run_phase(FakeTarget(0.002), a_plan(), Phase("A", "closed", 0.3, 10**9, 2))
    assert 0.25 < t.elapsed < 2.0
    assert 0 < t.done < 10**9
    assert sum(t.summary()["timeline"]) == t.done


async def test_errors_are_counted_by_kind_and_conflicts_are_not_errors() -> None:
    t = await run_phase(FakeTarget(fail_every=10), a_plan("W"), Phase("W", "closed", 30.0, 1000, 4))
    s = t.summary()
    assert s["errors"] == {"boom": 100}
    assert s["error_rate"] == 0.1 and s["ok"] == 900
    f = await run_phase(FakeTarget(conflicts=True), a_plan("F"), Phase("F", "closed", 30, 400, 4))
    fs = f.summary()
    assert fs["error_count"] == 0 and fs["ok"] == 400
    assert fs["conflicts"] == fs["by_op"]["rmw"]["ops"] > 100


async def test_read_modify_write_reads_then_cas() -> None:
    target = FakeTarget()
    await run_phase(target, a_plan("F"), Phase("F", "closed", 30, 1000, 4))
    assert target.calls["put"] == 0
    assert target.calls["get"] == 1000  # every op reads: a read, or the read of a rmw
    assert 400 < target.calls["cas"] < 600


async def test_open_loop_keeps_the_rate() -> None:
    t = await run_phase(FakeTarget(0.001), a_plan(), Phase("A", "open", 1.0, 10**6, 16, rate=200))
    s = t.summary()
    assert 180 <= s["ops"] <= 200
    assert s["target_rate"] == 200 and "service_ms" in s and "lag_ms" in s


async def test_open_loop_shows_a_stall_in_every_operation_it_delayed() -> None:
    """One operation in flight, 100 ops/s, a 400 ms stall: measured from the send (what a
    closed loop reports) one operation is slow; measured from the intended start, every
    operation scheduled during the stall is."""
    target = FakeTarget(0.001, stall_at=0.3, stall_for=0.4)
    t = await run_phase(target, a_plan(), Phase("A", "open", 1.2, 10**6, 1, rate=100))
    latency = np.frombuffer(t.latency_us, dtype=np.int64)
    service = np.frombuffer(t.service_us, dtype=np.int64)
    assert int((service > 100_000).sum()) <= 2
    assert int((latency > 100_000).sum()) >= 20
    s = t.summary()
    assert s["latency_ms"]["p99"] > 250 > s["service_ms"]["p99"]
    assert s["lag_ms"]["max"] > 250  # the sends themselves were late


async def test_open_loop_counts_operations_it_never_sent() -> None:
    """A store too slow to drain the schedule in time: the rest are errors, not omitted."""
    target = FakeTarget(0.05)  # 20 ops/s at most
    t = await run_phase(target, a_plan(), Phase("A", "open", 0.5, 10**6, 1, rate=200, drain=0.2))
    s = t.summary()
    assert s["errors"].get("not sent", 0) > 50
    assert s["ops"] == 100  # everything scheduled is accounted for
    assert s["latency_ms"]["max"] >= 200


async def test_stop_ends_a_phase_early_and_keeps_what_ran() -> None:
    stop = asyncio.Event()
    tally = Tally(Phase("A", "open", 30.0, 10**6, 8, rate=50))
    task = asyncio.ensure_future(
        run_phase(FakeTarget(0.001), a_plan(), tally.phase, stop=stop, tally=tally)
    )
    await asyncio.sleep(0.5)
    stop.set()
    t = await asyncio.wait_for(task, 5.0)
    assert t.interrupted and 5 < t.done < 100
    assert t.summary()["errors"] == {}
    closed = asyncio.ensure_future(
        run_phase(FakeTarget(0.001), a_plan(), Phase("A", "closed", 30, 10**9, 4), stop=stop)
    )
    assert (await asyncio.wait_for(closed, 5.0)).interrupted


async def test_ramp_finds_the_knee_below_capacity() -> None:
    """A store that serves 200 ops/s: the p99 bound breaks above that, and the ramp stops."""
    ramp = Ramp(start=50, step=100, stop=650, step_duration=0.6, p99_ms=40)
    summary, tallies = await run_ramp(
        FakeTarget(0.005), a_plan(), ramp, clients=64, max_ops=10**6, drain=0.5
    )
    steps = summary["steps"]
    assert summary["knee_rate"] in (50, 150)
    assert not steps[-1]["passed"] and all(s["passed"] for s in steps[:-1])
    assert len(steps) < len(ramp.rates())
    assert len(tallies) == len(steps)
