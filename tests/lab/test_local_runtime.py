"""LocalRuntime against a real, trivial child process (no database needed)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from lab.runtime.base import NodeCommand, NodeState
from lab.runtime.local import LocalRuntime, gc_processes
from tests.waiting import wait_until

# A child that writes a heartbeat line every 10 ms: a paused child stops writing.
CHILD = NodeCommand(
    argv=[
        sys.executable,
        "-c",
        "import sys, time\nwhile True:\n    print('beat', flush=True)\n    time.sleep(0.01)",
    ],
    env={"PYTHONUNBUFFERED": "1"},
)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    rt = LocalRuntime(tmp_path, [1, 2], run_id=f"test-{uuid.uuid4().hex}")
    yield rt
    rt.close()


def beats(rt: LocalRuntime, node: int) -> int:
    return rt.log_path(node).read_text().count("beat")


def test_ports_are_distinct_and_stable(runtime: LocalRuntime) -> None:
    ports = {runtime.endpoint(n, s).port for n in (1, 2) for s in ("raft", "http")}
    assert len(ports) == 4
    assert runtime.endpoint(1, "raft") == runtime.endpoint(1, "raft")


def test_start_kill_restart(runtime: LocalRuntime) -> None:
    assert runtime.state(1) is NodeState.NEW
    runtime.start(1, CHILD)
    assert runtime.state(1) is NodeState.RUNNING
    wait_until(lambda: beats(runtime, 1) > 0)
    runtime.kill(1)
    assert runtime.state(1) is NodeState.STOPPED
    assert runtime.exit_code(1) == -9
    runtime.restart(1)
    assert runtime.state(1) is NodeState.RUNNING


def test_pause_stops_progress_and_resume_continues(runtime: LocalRuntime) -> None:
    runtime.start(1, CHILD)
    wait_until(lambda: beats(runtime, 1) > 2)
    runtime.pause(1)
    assert runtime.state(1) is NodeState.PAUSED
    pid = runtime.pid(1)
    assert pid is not None
    wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    settled = beats(runtime, 1)
    runtime.resume(1)
    wait_until(lambda: beats(runtime, 1) > settled + 2)


def test_stop_terminates_a_paused_node(runtime: LocalRuntime) -> None:
    runtime.start(1, CHILD)
    runtime.pause(1)
    runtime.stop(1, grace=5)
    assert runtime.state(1) is NodeState.STOPPED


def test_sample_reports_resources(runtime: LocalRuntime) -> None:
    runtime.start(2, CHILD)
    Path(runtime.data_dir(2)).mkdir(parents=True)
    (Path(runtime.data_dir(2)) / "f").write_bytes(b"x" * 1000)
    s = runtime.sample(2)
    assert s is not None
    assert s.rss_bytes > 0 and s.threads >= 1 and s.open_fds >= 1 and s.data_bytes == 1000
    runtime.kill(2)
    assert runtime.sample(2) is None


def test_wipe_requires_stopped(runtime: LocalRuntime) -> None:
    runtime.start(1, CHILD)
    with pytest.raises(RuntimeError):
        runtime.wipe(1)
    runtime.kill(1)
    Path(runtime.data_dir(1)).mkdir(parents=True, exist_ok=True)
    runtime.wipe(1)
    assert not Path(runtime.data_dir(1)).exists()


def test_gc_kills_leftovers_of_a_run(tmp_path: Path) -> None:
    run_id = f"test-gc-{uuid.uuid4().hex}"
    rt = LocalRuntime(tmp_path, [1], run_id=run_id)
    rt.start(1, CHILD)
    pid = rt.pid(1)
    killed = gc_processes(run_id)
    assert killed == [pid]
    wait_until(lambda: rt.state(1) is NodeState.STOPPED)
    rt.close()


def test_gc_command_kills_leftovers_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lab.cli import main

    run_id = f"test-gc-cli-{uuid.uuid4().hex}"
    rt = LocalRuntime(tmp_path, [1], run_id=run_id)
    rt.start(1, CHILD)
    assert main(["gc", "--run-id", run_id, "--no-docker"]) == 0
    assert "local processes killed: 1" in capsys.readouterr().out
    wait_until(lambda: rt.state(1) is NodeState.STOPPED)
    rt.close()


NS_LAST_PID = Path("/proc/sys/kernel/ns_last_pid")


def test_gc_kills_a_run_process_whose_pid_was_used_before(tmp_path: Path) -> None:
    """The kernel reuses pids (32,768 of them by default): a full test suite wraps them. A node
    that got the pid of a process gc had already looked at must still be killed (psutil's
    cached Process for that pid reads the new environment but refuses to signal it: the gc
    test once killed 0 so). ``ns_last_pid`` hands the node the old pid for real."""
    if not NS_LAST_PID.exists() or not psutil.LINUX:
        pytest.skip("needs Linux's /proc/sys/kernel/ns_last_pid")
    run_id = f"test-gc-reused-{uuid.uuid4().hex}"
    rt = LocalRuntime(tmp_path, [1], run_id=run_id)
    try:
        for _ in range(50):  # another process may fork between setting the pid and ours
            before = psutil.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            gc_processes(f"{run_id}-nothing")  # gc sees (and psutil caches) this pid
            before.kill()
            before.wait()
            try:
                NS_LAST_PID.write_text(str(before.pid - 1))
            except PermissionError:
                pytest.skip("writing ns_last_pid needs root")
            rt.start(1, CHILD)
            if rt.pid(1) == before.pid:
                break
            rt.kill(1)
            wait_until(lambda: rt.state(1) is NodeState.STOPPED)
        else:
            pytest.skip("other processes took the pid 50 times")
        assert gc_processes(run_id) == [before.pid]
        wait_until(lambda: rt.state(1) is NodeState.STOPPED)
    finally:
        rt.close()
