"""``aspen-lab gc`` touches only runs whose owner is gone, or the one it is told to."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from lab.runtime.local import RUN_ENV, gc_processes
from lab.runtime.owner import OWNER_ENV, owner_alive, this_owner


def _leftover(run_id: str, owner: str) -> subprocess.Popen[bytes]:
    """A stand-in node: a sleeping process carrying a run id and an owner, as LocalRuntime
    starts nodes."""
    env = {**os.environ, RUN_ENV: run_id, OWNER_ENV: owner}
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=env)


@pytest.fixture
def dead_owner() -> str:
    """The owner token of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    return f"{this_owner().rsplit(':', 2)[0]}:{proc.pid}:{started:.2f}"


def test_owner_liveness() -> None:
    assert owner_alive(this_owner())
    assert owner_alive(None) and owner_alive("garbage")  # cannot judge: left alone
    assert owner_alive("another-host:1:1.00")


def test_owner_that_exited_is_gone(dead_owner: str) -> None:
    assert not owner_alive(dead_owner)


def test_gc_leaves_a_live_run_alone_and_kills_an_orphan(dead_owner: str) -> None:
    live = _leftover(f"live-{uuid.uuid4().hex}", this_owner())
    orphan_run = f"orphan-{uuid.uuid4().hex}"
    orphan = _leftover(orphan_run, dead_owner)
    try:
        assert orphan.pid in gc_processes(dry_run=True)
        assert orphan.poll() is None  # a dry run kills nothing
        killed = gc_processes()
        assert orphan.pid in killed and live.pid not in killed
        assert orphan.wait(10) != 0
        assert live.poll() is None
    finally:
        for proc in (live, orphan):
            proc.kill()
            proc.wait()


def test_gc_run_id_kills_that_run_even_with_a_live_owner() -> None:
    run_id = f"named-{uuid.uuid4().hex}"
    proc = _leftover(run_id, this_owner())
    try:
        assert gc_processes(run_id) == [proc.pid]
        assert proc.wait(10) != 0
    finally:
        proc.kill()
        proc.wait()


def test_gc_dry_run_command_says_what_would_go(
    dead_owner: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from lab.cli import main

    proc = _leftover(f"orphan-{uuid.uuid4().hex}", dead_owner)
    try:
        assert main(["gc", "--dry-run", "--no-docker"]) == 0
        out = capsys.readouterr().out
        assert "local processes would be killed" in out and str(proc.pid) in out
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
