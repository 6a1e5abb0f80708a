"""The event queue: virtual time order, ties in scheduling order, no time travel."""

from __future__ import annotations

from aspen.sim.scheduler import Scheduler


def test_events_run_in_time_then_insertion_order() -> None:
    s = Scheduler()
    seen: list[tuple[int, str]] = []
    for t, name in [(30, "c"), (10, "a"), (30, "d"), (10, "b"), (20, "x")]:
        s.at(t, lambda n=name: seen.append((s.now, n)))
    s.run_until(100)
    assert seen == [(10, "a"), (10, "b"), (20, "x"), (30, "c"), (30, "d")]
    assert s.now == 100
    assert s.processed == 5


def test_run_until_stops_at_the_bound_and_past_events_run_now() -> None:
    s = Scheduler()
    seen: list[int] = []
    s.at(5, seen.append, 5)
    s.at(15, seen.append, 15)
    s.run_until(10)
    assert seen == [5] and s.now == 10 and len(s) == 1
    s.at(3, seen.append, 3)  # in the past: runs at the current time, not before it
    s.after(0, seen.append, 0)
    s.run_until(10)
    assert seen == [5, 3, 0]
    assert s.next_time() == 15


def test_events_scheduled_while_running_at_the_same_instant_run_after() -> None:
    s = Scheduler()
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        s.after(0, seen.append, "nested")

    s.at(1, first)
    s.at(1, seen.append, "second")
    s.run_until(1)
    assert seen == ["first", "second", "nested"]
