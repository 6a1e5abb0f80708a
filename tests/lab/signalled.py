"""Signal a real ``aspen-lab`` command mid-run and see what it left behind: the one harness for
the chaos, load and soak signal tests (`lab.interrupt` is the one stop path they all share)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
EXIT_CODES = {"SIGTERM": 143, "SIGINT": 130}


@dataclass(frozen=True)
class Signalled:
    """How a signalled command ended: its exit status and what it printed (stdout + stderr)."""

    returncode: int
    output: str


def lab_processes(marker: str) -> list[psutil.Process]:
    """Every process whose command line names ``marker`` (the test's own store)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def signal_lab_command(
    args: list[str],
    signals: tuple[str, ...],
    ready: Callable[[], bool],
    *,
    startup_s: float = 90,
    cwd: Path,
) -> Signalled:
    """Run ``aspen-lab ARGS``, wait until ``ready()``, send ``signals`` (the second 0.2 s
    after the first, so it lands mid-cleanup as a double Ctrl-C does), wait for the exit.

    Asserts that no process the command started (its descendants at the time of the first
    signal) is still running soon after it has exited."""
    cmd = [sys.executable, "-m", "lab.cli", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this tree's lab, whatever is installed
    # As a context manager, Popen closes its pipe whatever happens (an unclosed one would
    # surface as a ResourceWarning in some later test).
    with subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        try:

            def started() -> bool:
                if proc.poll() is not None:  # it ended before any signal: say why, do not wait
                    said = proc.stdout.read().decode() if proc.stdout else ""
                    raise AssertionError(f"{args[0]} exited {proc.returncode}:\n{said}")
                return ready()

            wait_until(started, startup_s, f"{args[0]} to be under way")
            children = psutil.Process(proc.pid).children(recursive=True)
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
    # A helper that ends when its parent does (multiprocessing's resource tracker) may take a
    # moment to notice: a grace period, not a fixed sleep.
    _, left = psutil.wait_procs(children, timeout=10)
    assert left == [], f"processes left running: {left}\n{text}"
    return Signalled(proc.returncode, text)
