"""SIGINT and SIGTERM stop a lab command one way: early, cleanly, and never half-way.

The unit tests pin the escalation; the integration tests signal a real ``aspen-lab chaos``
process mid-workload and then look for anything it left running."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from lab.interrupt import StopRequest, stop_on_signals
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


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


def _lab_processes(marker: str) -> list[psutil.Process]:
    """Every process whose command line names ``marker`` (the test's own store)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


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
    cmd = [sys.executable, "-m", "lab.cli", "chaos", "--scenario", "partition",
           "--duration", "120", "--seed", "3", "--quiet", "--store", str(store),
           *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this tree's lab, whatever is installed
    # As a context manager, Popen closes its pipe whatever happens (an unclosed one would
    # surface as a ResourceWarning in some later test).
    with subprocess.Popen(
        cmd, cwd=cwd or tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        try:
            history = lambda: next(store.glob("partition/2*/history.jsonl"), None)  # noqa: E731

            def started() -> bool:
                if proc.poll() is not None:  # it ended before any signal: say why, do not wait
                    said = proc.stdout.read().decode() if proc.stdout else ""
                    raise AssertionError(f"chaos exited {proc.returncode}:\n{said}")
                return (h := history()) is not None and h.stat().st_size > 2000

            wait_until(started, startup_s, "the workload's first operations")
            if "docker" not in extra:
                assert len(_lab_processes(str(store))) >= 3  # the nodes are up
            for i, name in enumerate(signals):
                if i:
                    time.sleep(0.2)  # the second lands mid-cleanup, as a double Ctrl-C does
                proc.send_signal(getattr(signal, name))
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:  # the test failed mid-way: let the lab clean up, then insist
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.communicate(timeout=180)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
    text = out.decode()
    assert proc.returncode == {"SIGTERM": 143, "SIGINT": 130}[signals[0]], text
    assert _lab_processes(str(store)) == [], "processes left running"
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
