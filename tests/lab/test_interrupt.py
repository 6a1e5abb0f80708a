"""SIGINT and SIGTERM stop a lab command one way: early, cleanly, and never half-way.

The unit tests pin the escalation; the integration tests signal a real ``aspen-lab chaos``
process mid-workload and then look for anything it left running."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from lab.interrupt import StopRequest, stop_on_signals
from tests.lab.signalled import EXIT_CODES, REPO, lab_processes, signal_lab_command

__all__ = ["REPO", "signal_a_chaos_run"]  # the Docker signal test runs the same check


def test_the_first_signal_asks_to_stop_and_the_second_to_hurry() -> None:
    stop = StopRequest()
    assert not stop.requested and not stop.hurried and stop.first is None
    stop.receive("SIGTERM")
    assert stop.requested and not stop.hurried and stop.exit_code() == 143
    stop.receive("SIGINT")
    assert stop.hurried and stop.first == "SIGTERM"


def test_handlers_never_raise_and_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # would be KeyboardInterrupt without the handler
        deadline = time.monotonic() + 5
        while len(stop.signals) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert stop.signals == ["SIGTERM", "SIGINT"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_stop_wakes_the_event_loop() -> None:
    async def main() -> float:
        stop = StopRequest()
        event = stop.event()
        loop = asyncio.get_running_loop()
        started = loop.time()
        loop.call_later(0.05, lambda: os.kill(os.getpid(), signal.SIGTERM))
        with stop_on_signals(stop):
            await asyncio.wait_for(event.wait(), 10)
        return loop.time() - started

    assert asyncio.run(main()) < 5


def test_callbacks_run_in_the_loop_once_at_their_signal_count() -> None:
    async def main() -> list[str]:
        stop = StopRequest()
        calls: list[str] = []
        stop.call_on(lambda: calls.append("first"))
        stop.call_on(lambda: calls.append("second"), signals=2)
        stop.receive("SIGINT")
        await asyncio.sleep(0)
        assert calls == ["first"]
        stop.receive("SIGINT")
        stop.receive("SIGINT")
        await asyncio.sleep(0)
        stop.call_on(lambda: calls.append("late"))  # already due: soon, still once
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return calls

    assert asyncio.run(main()) == ["first", "second", "late"]


def test_a_second_signal_cancels_only_the_work_given_to_unless_hurried() -> None:
    async def main() -> tuple[bool, bool, list[str]]:
        stop = StopRequest()
        steps: list[str] = []

        async def work() -> str:
            try:
                await asyncio.sleep(30)
            finally:
                steps.append("work unwound")
            return "done"

        loop = asyncio.get_running_loop()
        loop.call_later(0.01, stop.receive, "SIGTERM")
        loop.call_later(0.05, stop.receive, "SIGINT")
        finished, _ = await stop.unless_hurried(work())
        steps.append("cleanup")  # the caller's own cleanup runs, uncut
        ran, value = await stop.unless_hurried(asyncio.sleep(0, "x"))  # hurried: not started
        return finished, not ran and value is None, steps

    finished, skipped, steps = asyncio.run(main())
    assert not finished and steps == ["work unwound", "cleanup"]
    assert skipped


def test_unless_hurried_returns_the_result_and_raises_the_error() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    async def main() -> tuple[bool, int | None]:
        stop = StopRequest()
        got = await stop.unless_hurried(asyncio.sleep(0, 7))
        with pytest.raises(ValueError, match="boom"):
            await stop.unless_hurried(fails())
        return got

    assert asyncio.run(main()) == (True, 7)


@pytest.mark.integration
@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT", "SIGINT")])
def test_a_signalled_chaos_run_leaves_nothing_running_and_writes_its_report(
    tmp_path: Path, signals: tuple[str, ...]
) -> None:
    signal_a_chaos_run(tmp_path, signals)


def signal_a_chaos_run(
    tmp_path: Path,
    signals: tuple[str, ...],
    *extra: str,
    startup_s: float = 90,
    cwd: Path | None = None,
) -> Path:
    """Start ``aspen-lab chaos`` (with ``extra`` arguments), send ``signals`` mid-workload,
    and check what it left: no process of the run, results marked interrupted, a report.
    Returns the run directory (callers check what else their runtime might leave)."""
    store = tmp_path / "store"
    args = ["chaos", "--scenario", "partition", "--duration", "120", "--seed", "3", "--quiet",
            "--store", str(store), *extra]  # fmt: skip

    def started() -> bool:
        h = next(store.glob("partition/2*/history.jsonl"), None)
        return h is not None and h.stat().st_size > 2000

    ended = signal_lab_command(args, signals, started, startup_s=startup_s, cwd=cwd or tmp_path)
    text = ended.output
    assert ended.returncode == EXIT_CODES[signals[0]], text
    assert lab_processes(str(store)) == [], "processes left running"
    run_dir = next(store.glob("partition/2*"))
    results = json.loads((run_dir / "results.json").read_text())
    assert results["interrupted"] == signals[0]
    assert results["checked"] is (len(signals) == 1)
    assert results["valid"] is False
    assert results["throughput"]["span_seconds"] < 100
    assert "INTERRUPTED" in text
    html = (run_dir / "report.html").read_text()
    assert 'data-status="interrupted"' in html and "Stopped early by " + signals[0] in html
    assert "did not recover" not in html
    return run_dir
