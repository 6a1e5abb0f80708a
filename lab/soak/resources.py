"""The soak's resource timeline: one sampler for the whole soak, and the series it builds.

`sample_soak` appends one line per node per interval to the soak's ``resources.jsonl`` (the
format `lab.runner.sample_resources` writes, with ``time`` in nanoseconds since the soak
started, plus ``pid`` and ``window``) and keeps the numbers in a `ResourceSeries`: compact
arrays, a few MB for a day of samples, so the leak checks can be recomputed after every window
without reading the file again.

A node restarted by a fault is a new process: its memory, fds and threads start over. Each
process lifetime is a *segment* (a new pid, or the node seen down in between), so leak checks
can look for growth within lifetimes instead of mistaking restarts for trends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from lab.runtime.base import Endpoint, NodeCommand, NodeState, ResourceSample, Runtime

if TYPE_CHECKING:
    from lab.net import ToxiproxyPlacement

METRICS: Final = ("rss_bytes", "open_fds", "threads", "data_bytes", "cpu_percent")


@dataclass(slots=True)
class NodeSeries:
    """One node's samples while it was up; ``segment[i]`` is the process lifetime of sample i."""

    times: array[float] = field(default_factory=lambda: array("d"))
    values: dict[str, array[float]] = field(
        default_factory=lambda: {m: array("d") for m in METRICS}
    )
    segment: array[int] = field(default_factory=lambda: array("l"))
    down: list[float] = field(default_factory=list)
    """Times the node was sampled down (not running)."""
    _pid: int | None = None
    _was_down: bool = False

    def add(self, t: float, row: dict[str, Any]) -> None:
        if not row.get("up"):
            self._was_down = True
            self.down.append(t)
            return
        pid = row.get("pid")
        seg = self.segment[-1] if self.segment else 0
        if self.segment and (self._was_down or (pid is not None and pid != self._pid)):
            seg += 1
        self._pid = pid if pid is not None else self._pid
        self._was_down = False
        self.times.append(t)
        self.segment.append(seg)
        for m in METRICS:
            self.values[m].append(float(row.get(m) or 0.0))

    def __len__(self) -> int:
        return len(self.times)

    @property
    def restarts(self) -> int:
        return self.segment[-1] if self.segment else 0

    def points(self, metric: str) -> list[tuple[float, float]]:
        return list(zip(self.times, self.values[metric], strict=True))

    def segments(
        self, metric: str, *, warmup_s: float = 0.0, restart_warmup_s: float = 0.0
    ) -> list[list[tuple[float, float]]]:
        """The metric per process lifetime, without the soak's first ``warmup_s`` seconds and
        without each restarted process's first ``restart_warmup_s`` seconds."""
        out: list[list[tuple[float, float]]] = []
        start = 0.0
        current = -1
        vals = self.values[metric]
        for t, v, seg in zip(self.times, vals, self.segment, strict=True):
            if seg != current:
                current, start = seg, t
                out.append([])
            if t < warmup_s or (seg > 0 and t < start + restart_warmup_s):
                continue
            out[-1].append((t, v))
        return [s for s in out if s]


@dataclass(slots=True)
class ResourceSeries:
    """Every node's `NodeSeries`, keyed ``n1``, ``n2``, ... (times in seconds)."""

    nodes: dict[str, NodeSeries] = field(default_factory=dict)

    def add_row(self, row: dict[str, Any]) -> None:
        node = str(row.get("node"))
        self.nodes.setdefault(node, NodeSeries()).add(float(row["time"]) / 1e9, row)

    @property
    def span(self) -> float:
        times = [s.times[-1] for s in self.nodes.values() if len(s)]
        return max(times, default=0.0)

    @classmethod
    def load(cls, path: Path) -> ResourceSeries:
        """Read a ``resources.jsonl`` (a torn last line is skipped)."""
        series = cls()
        if not path.exists():
            return series
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    series.add_row(json.loads(line))
        return series


def sample_row(
    runtime: Runtime, node: int, t_ns: int, window: int | None
) -> tuple[dict[str, Any], ResourceSample | None]:
    s = runtime.sample(node)
    pid_of = getattr(runtime, "pid", None)
    pid = pid_of(node) if callable(pid_of) and s is not None else None
    row: dict[str, Any] = {"time": t_ns, "node": f"n{node}", "up": s is not None}
    if s is not None:
        row.update(
            cpu_percent=s.cpu_percent,
            rss_bytes=s.rss_bytes,
            open_fds=s.open_fds,
            threads=s.threads,
            data_bytes=s.data_bytes,
            pid=pid,
        )
    if window is not None:
        row["window"] = window
    return row, s


async def sample_soak(
    runtime: Runtime,
    nodes: list[int],
    path: Path,
    series: ResourceSeries,
    t0_ns: int,
    *,
    interval: float = 1.0,
    window: Callable[[], int | None] = lambda: None,
    latest: dict[int, ResourceSample | None] | None = None,
) -> None:
    """Sample every node every ``interval`` seconds until cancelled (``latest`` gets each
    node's newest sample, for `SharedSamples`)."""
    with open(path, "a", encoding="utf-8") as out:
        next_at = time.monotonic()
        while True:
            t = time.monotonic_ns() - t0_ns
            w = window()
            for node in nodes:
                row, s = await asyncio.to_thread(sample_row, runtime, node, t, w)
                if latest is not None:
                    latest[node] = s
                series.add_row(row)
                out.write(json.dumps(row) + "\n")
            out.flush()
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


class SharedSamples:
    """A `Runtime` that answers ``sample`` with the soak sampler's newest reading.

    `lab.runner.run_workload` starts its own sampler for every window; handing it this runtime
    keeps that from sampling (walking the data dirs, reading /proc) a second time each second.
    Everything else goes to the real runtime.
    """

    def __init__(self, runtime: Runtime, latest: dict[int, ResourceSample | None]) -> None:
        self._rt = runtime
        self._latest = latest
        self.name = runtime.name

    def sample(self, node_id: int) -> ResourceSample | None:
        if node_id in self._latest:
            return self._latest[node_id]
        return self._rt.sample(node_id)

    def endpoint(self, node_id: int, service: str) -> Endpoint:
        return self._rt.endpoint(node_id, service)

    def data_dir(self, node_id: int) -> str:
        return self._rt.data_dir(node_id)

    def log_path(self, node_id: int) -> Path:
        return self._rt.log_path(node_id)

    def start(self, node_id: int, command: NodeCommand) -> None:
        self._rt.start(node_id, command)

    def stop(self, node_id: int, grace: float = 5.0) -> None:
        self._rt.stop(node_id, grace)

    def kill(self, node_id: int) -> None:
        self._rt.kill(node_id)

    def pause(self, node_id: int) -> None:
        self._rt.pause(node_id)

    def resume(self, node_id: int) -> None:
        self._rt.resume(node_id)

    def restart(self, node_id: int) -> None:
        self._rt.restart(node_id)

    def wipe(self, node_id: int) -> None:
        self._rt.wipe(node_id)

    def state(self, node_id: int) -> NodeState:
        return self._rt.state(node_id)

    def exit_code(self, node_id: int) -> int | None:
        return self._rt.exit_code(node_id)

    def provide_toxiproxy(self, stack: contextlib.ExitStack) -> ToxiproxyPlacement:
        return self._rt.provide_toxiproxy(stack)

    def close(self) -> None:
        """The soak owns the real runtime and closes it; a window must not."""


def downsample(
    points: list[tuple[float, float]], limit: int = 2000
) -> Iterator[tuple[float, float]]:
    """At most about ``limit`` points for a plot: each bucket's mean time and maximum value
    (a spike stays visible)."""
    if len(points) <= limit:
        yield from points
        return
    step = len(points) / limit
    i = 0.0
    while int(i) < len(points):
        bucket = points[int(i) : int(i + step) or int(i) + 1]
        yield (sum(t for t, _ in bucket) / len(bucket), max(v for _, v in bucket))
        i += step
