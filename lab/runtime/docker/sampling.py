"""A node container's resource use, by the cheapest of four paths the lab's position allows.

Beside the engine (the container's PID 1 visible in this host's ``/proc``): psutil on that
process, as LocalRuntime measures, and the data size from the volume's directory; a few ms.
Otherwise: CPU, memory and threads from the cgroup (``docker stats``, which waits for the
engine's 1 s collection tick, so one round fetches every node's frame at once and the others
reuse it), and open fds, RSS and data size from an ``exec`` at most every
``EXEC_SAMPLE_INTERVAL`` seconds (0.1 s idle, most of a second under load), repeated in between
and while the node is paused.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker.errors
import psutil
import requests

from lab.runtime.base import ResourceSample
from lab.runtime.docker.layout import DATA_DIR
from lab.runtime.docker.node import DockerNode
from lab.runtime.local import dir_size

EXEC_SAMPLE_INTERVAL = 5.0
STATS_MAX_AGE = 0.5  # seconds; the engine collects stats once a second

Exec = Callable[[str, Sequence[str]], tuple[int, str]]
"""Run argv in a container (by id): (exit code, output)."""


class Sampler:
    """Samples the run's node containers; ``nodes`` is the runtime's own (live) mapping."""

    def __init__(self, client: Any, nodes: Mapping[int, DockerNode], exec: Exec) -> None:
        self.client = client
        self.nodes = nodes
        self.exec = exec

    def sample(self, node: DockerNode) -> ResourceSample | None:
        """The node's resource use, or None when its container is not running (or paused)."""
        container = node.container
        if container is None:
            return None
        try:
            info = self.client.api.inspect_container(container)
        except (docker.errors.APIError, requests.RequestException):
            return None  # replaced or removed meanwhile, or the engine is slow: no reading
        if info["State"]["Status"] not in ("running", "paused"):
            return None
        proc = self._host_process(node, info)
        if proc is not None:
            try:
                with proc.oneshot():
                    return ResourceSample(
                        cpu_percent=proc.cpu_percent(None),
                        rss_bytes=proc.memory_info().rss,
                        open_fds=proc.num_fds(),
                        threads=proc.num_threads(),
                        data_bytes=self._data_bytes(node, info),
                    )
            except psutil.Error:
                node.readings.ps = None  # gone meanwhile; the engine's view below
        return self._engine_sample(node, info)

    def _host_process(self, node: DockerNode, info: Mapping[str, Any]) -> psutil.Process | None:
        """The container's PID 1 as a process of this host, if this host can see it.

        The PID Docker reports is only trusted if ``/proc/<pid>/cgroup`` names the container:
        a lab in another PID namespace (or on another machine) would see some other process.
        """
        r = node.readings
        container = str(info["Id"])
        if r.ps is not None and r.ps_container == container:
            return r.ps
        r.ps, r.ps_container = None, container
        pid = int(info["State"].get("Pid") or 0)
        try:
            if pid and container in Path(f"/proc/{pid}/cgroup").read_text():
                r.ps = psutil.Process(pid)
                r.ps.cpu_percent(None)  # the first reading is 0.0 (as locally), then deltas
        except (OSError, psutil.Error):
            r.ps = None
        return r.ps

    def _data_bytes(self, node: DockerNode, info: Mapping[str, Any]) -> int:
        """The volume's size, from its directory on this host if readable, else by exec."""
        if node.mountpoint is None:
            try:
                node.mountpoint = str(self.client.api.inspect_volume(node.volume)["Mountpoint"])
            except (docker.errors.APIError, requests.RequestException, KeyError):
                node.mountpoint = ""
        if node.mountpoint and os.access(node.mountpoint, os.R_OK | os.X_OK):
            return dir_size(Path(node.mountpoint))
        return self._probe(node, info)[2]

    def _probe(self, node: DockerNode, info: Mapping[str, Any]) -> tuple[int, int, int]:
        """(open fds, RSS, data bytes) by exec, at most every ``EXEC_SAMPLE_INTERVAL`` s."""
        r = node.readings
        now = time.monotonic()
        running = info["State"]["Status"] == "running"
        if running and (r.probed_at is None or now - r.probed_at >= EXEC_SAMPLE_INTERVAL):
            r.probed_at = now
            r.probed = self._exec_probe(str(info["Id"])) or r.probed
        return r.probed

    def _engine_sample(self, node: DockerNode, info: Mapping[str, Any]) -> ResourceSample | None:
        stats = self._stats(node)
        if stats is None:
            return None
        cpu = stats.get("cpu_stats") or {}
        usage = cpu.get("cpu_usage") or {}
        total = int(usage.get("total_usage") or 0)
        system = int(cpu.get("system_cpu_usage") or 0)
        online = int(cpu.get("online_cpus") or len(usage.get("percpu_usage") or [1]))
        percent = 0.0
        r = node.readings
        if r.cpu is not None and system > r.cpu[1]:
            percent = (total - r.cpu[0]) / (system - r.cpu[1]) * online * 100.0
        r.cpu = (total, system)
        fds, rss, data = self._probe(node, info)
        return ResourceSample(
            cpu_percent=max(0.0, percent),
            rss_bytes=rss or cgroup_memory(stats.get("memory_stats") or {}),
            open_fds=fds,
            threads=int((stats.get("pids_stats") or {}).get("current") or 0),
            data_bytes=data,
        )

    def _stats(self, node: DockerNode) -> dict[str, Any] | None:
        """The node's latest ``docker stats`` frame; a stale one refreshes every node's."""
        r = node.readings
        if r.stats_at is None or time.monotonic() - r.stats_at > STATS_MAX_AGE:
            nodes = [n for n in self.nodes.values() if n.container is not None]

            def fetch(n: DockerNode) -> None:
                try:
                    frame = self.client.api.stats(n.container, stream=False, one_shot=True)
                except (docker.errors.APIError, requests.RequestException):
                    frame = None
                n.readings.stats, n.readings.stats_at = frame, time.monotonic()

            with ThreadPoolExecutor(max_workers=len(nodes) or 1) as pool:
                list(pool.map(fetch, nodes))
        return node.readings.stats

    def _exec_probe(self, container: str) -> tuple[int, int, int] | None:
        """(open fds, VmRSS bytes, data bytes) of the container's PID 1, by ``exec``, or None."""
        script = (
            "ls /proc/1/fd | wc -l; "
            "awk '/^VmRSS:/ {print $2 * 1024}' /proc/1/status; "
            f"du -sb {DATA_DIR} | cut -f1"
        )
        try:
            code, out = self.exec(container, ["sh", "-c", script])
        except (docker.errors.APIError, requests.RequestException):
            return None
        fields = out.split()
        if code != 0 or len(fields) != 3 or not all(f.isdigit() for f in fields):
            return None
        return int(fields[0]), int(fields[1]), int(fields[2])


def cgroup_memory(memory: Mapping[str, Any]) -> int:
    """What ``docker stats`` shows as memory use: usage minus the inactive page cache."""
    usage = int(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    cache = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    return max(0, usage - int(cache or 0))
