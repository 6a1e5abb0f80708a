"""Each node a real OS process on 127.0.0.1, in its own process group, with random free ports.

Every process gets ``ASPEN_LAB_RUN=<run id>`` in its environment, so ``aspen-lab gc`` can find
and kill the leftovers of a run that crashed before it could clean up (``gc_processes``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from lab.net import ToxiproxyPlacement
from lab.runtime.base import Endpoint, NodeCommand, NodeState, ResourceSample
from lab.runtime.owner import OWNER_ENV, owner_alive, this_owner

RUN_ENV = "ASPEN_LAB_RUN"


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out; free unless someone grabs it in between."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, f)).st_size
    return total


@dataclass(slots=True)
class _Node:
    ports: dict[str, int]
    command: NodeCommand | None = None
    proc: subprocess.Popen[bytes] | None = None
    ps: psutil.Process | None = None
    paused: bool = False


class LocalRuntime:
    """Nodes as local processes. ``services`` names the ports every node gets."""

    name = "local"

    def __init__(
        self,
        run_dir: Path,
        node_ids: Iterable[int],
        run_id: str,
        services: Iterable[str] = ("raft", "http"),
        host: str = "127.0.0.1",
    ) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.host = host
        services = tuple(services)
        self._nodes = {n: _Node({s: free_port(host) for s in services}) for n in node_ids}
        (run_dir / "nodes").mkdir(parents=True, exist_ok=True)

    @property
    def node_ids(self) -> list[int]:
        return sorted(self._nodes)

    def endpoint(self, node_id: int, service: str) -> Endpoint:
        return Endpoint(self.host, self._nodes[node_id].ports[service], bind=self.host)

    def data_dir(self, node_id: int) -> str:
        return str(self.run_dir / "nodes" / f"n{node_id}")

    def log_path(self, node_id: int) -> Path:
        return self.run_dir / "nodes" / f"n{node_id}.log"

    def start(self, node_id: int, command: NodeCommand) -> None:
        node = self._nodes[node_id]
        if node.proc is not None and node.proc.poll() is None:
            raise RuntimeError(f"node {node_id} is already running")
        env = {**os.environ, **command.env, RUN_ENV: self.run_id, OWNER_ENV: this_owner()}
        with open(self.log_path(node_id), "ab") as log:
            node.proc = subprocess.Popen(
                list(command.argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node.command = command
        node.paused = False
        try:
            node.ps = psutil.Process(node.proc.pid)
            node.ps.cpu_percent(None)
        except psutil.Error:
            node.ps = None

    def _signal(self, node_id: int, sig: signal.Signals) -> bool:
        proc = self._nodes[node_id].proc
        if proc is None or proc.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        return True

    def stop(self, node_id: int, grace: float = 5.0) -> None:
        node = self._nodes[node_id]
        if self._signal(node_id, signal.SIGTERM):
            self._signal(node_id, signal.SIGCONT)
            assert node.proc is not None
            try:
                node.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill(node_id)
        node.paused = False

    def kill(self, node_id: int) -> None:
        node = self._nodes[node_id]
        if self._signal(node_id, signal.SIGKILL):
            assert node.proc is not None
            node.proc.wait()
        node.paused = False

    def pause(self, node_id: int) -> None:
        if self._signal(node_id, signal.SIGSTOP):
            self._nodes[node_id].paused = True

    def resume(self, node_id: int) -> None:
        if self._signal(node_id, signal.SIGCONT):
            self._nodes[node_id].paused = False

    def restart(self, node_id: int) -> None:
        command = self._nodes[node_id].command
        if command is None:
            raise RuntimeError(f"node {node_id} was never started")
        self.kill(node_id)
        self.start(node_id, command)

    def wipe(self, node_id: int) -> None:
        if self.state(node_id) in (NodeState.RUNNING, NodeState.PAUSED):
            raise RuntimeError(f"node {node_id} must be stopped before its data is wiped")
        shutil.rmtree(self.data_dir(node_id), ignore_errors=True)

    def state(self, node_id: int) -> NodeState:
        node = self._nodes[node_id]
        if node.proc is None:
            return NodeState.NEW
        if node.proc.poll() is not None:
            return NodeState.STOPPED
        return NodeState.PAUSED if node.paused else NodeState.RUNNING

    def exit_code(self, node_id: int) -> int | None:
        proc = self._nodes[node_id].proc
        return None if proc is None else proc.poll()

    def pid(self, node_id: int) -> int | None:
        proc = self._nodes[node_id].proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def sample(self, node_id: int) -> ResourceSample | None:
        node = self._nodes[node_id]
        if node.ps is None or self.state(node_id) is NodeState.STOPPED:
            return None
        try:
            with node.ps.oneshot():
                return ResourceSample(
                    cpu_percent=node.ps.cpu_percent(None),
                    rss_bytes=node.ps.memory_info().rss,
                    open_fds=node.ps.num_fds(),
                    threads=node.ps.num_threads(),
                    data_bytes=dir_size(Path(self.data_dir(node_id))),
                )
        except psutil.Error:
            return None

    def provide_toxiproxy(self, stack: contextlib.ExitStack) -> ToxiproxyPlacement:
        """Our Toxiproxy in this process (or ``TOXIPROXY_URL``'s), proxies on free ports."""
        from lab.toxiproxy.embedded import toxiproxy_url

        url = stack.enter_context(toxiproxy_url())
        return ToxiproxyPlacement(url, lambda _src, _dst: f"{self.host}:0")

    def close(self) -> None:
        for node_id in self._nodes:
            self.stop(node_id, grace=3.0)


def gc_processes(run_id: str | None = None, *, dry_run: bool = False) -> list[int]:
    """Kill the processes of runs whose owner is gone (see `lab.runtime.owner`), or of the one
    run named, live or not; returns their pids (``dry_run``: kills nothing)."""
    killed = []
    for pid in psutil.pids():
        # A fresh Process per pid, never `psutil.process_iter`'s cached ones: a cached one whose
        # pid the kernel has since reused reads the new process's environment but refuses to
        # signal it (pid reused), so a run's node went unkilled once pids wrapped.
        try:
            proc = psutil.Process(pid)
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        value = env.get(RUN_ENV)
        if value is None or (run_id is not None and value != run_id):
            continue
        if run_id is None and owner_alive(env.get(OWNER_ENV)):
            continue
        if dry_run:
            killed.append(proc.pid)
            continue
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            killed.append(proc.pid)
    return killed
