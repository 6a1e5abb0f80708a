from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from lab.runtime.base import ResourceSample
from lab.soak.resources import (
    ResourceSeries,
    SharedSamples,
    downsample,
    sample_soak,
)


def row(t: float, node: str = "n1", pid: int | None = 100, rss: float = 50e6, **kw: Any) -> dict:  # type: ignore[type-arg]
    up = kw.pop("up", True)
    r: dict[str, Any] = {"time": int(t * 1e9), "node": node, "up": up}
    if up:
        r.update(rss_bytes=rss, open_fds=20, threads=6, data_bytes=1000, cpu_percent=5.0, pid=pid)
    return r


def test_a_new_pid_or_a_down_sample_starts_a_new_process_lifetime() -> None:
    s = ResourceSeries()
    for t in range(5):
        s.add_row(row(t))
    s.add_row(row(5, pid=200))  # restarted between two samples
    s.add_row(row(6, up=False))
    s.add_row(row(7, pid=200))  # same pid number after a down sample: still a new process
    s.add_row(row(8, pid=None))  # no pid known: same process
    ns = s.nodes["n1"]
    assert list(ns.segment) == [0, 0, 0, 0, 0, 1, 2, 2]
    assert ns.restarts == 2
    assert ns.down == [6.0]
    assert len(ns) == 8


def test_segments_skip_the_warmup_and_each_restart_warmup() -> None:
    s = ResourceSeries()
    for t in range(100):
        s.add_row(row(t, pid=1 if t < 50 else 2, rss=t))
    segs = s.nodes["n1"].segments("rss_bytes", warmup_s=10, restart_warmup_s=5)
    assert [p[0] for p in segs[0]] == [float(t) for t in range(10, 50)]
    assert [p[0] for p in segs[1]] == [float(t) for t in range(55, 100)]
    assert s.span == 99.0


def test_load_skips_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "resources.jsonl"
    path.write_text(json.dumps(row(1)) + "\n" + json.dumps(row(2, node="n2")) + '\n{"time": 3')
    s = ResourceSeries.load(path)
    assert sorted(s.nodes) == ["n1", "n2"]
    assert ResourceSeries.load(tmp_path / "missing.jsonl").nodes == {}


def test_downsample_bounds_points_and_keeps_spikes() -> None:
    pts = [(float(t), 1.0) for t in range(10_000)]
    pts[5000] = (5000.0, 99.0)
    out = list(downsample(pts, 500))
    assert 450 <= len(out) <= 510
    assert max(v for _, v in out) == 99.0
    assert list(downsample(pts[:10], 500)) == pts[:10]


class FakeRuntime:
    name = "fake"

    def __init__(self) -> None:
        self.calls = 0
        self.killed: list[int] = []

    def sample(self, node: int) -> ResourceSample | None:
        self.calls += 1
        if node == 2:
            return None
        return ResourceSample(1.0, 10_000_000 + self.calls, 7, 3, 4096)

    def pid(self, node: int) -> int:
        return 1000 + node

    def kill(self, node: int) -> None:
        self.killed.append(node)


async def test_the_soak_sampler_writes_rows_and_keeps_the_series(tmp_path: Path) -> None:
    rt = FakeRuntime()
    series = ResourceSeries()
    latest: dict[int, ResourceSample | None] = {}
    path = tmp_path / "resources.jsonl"
    task = asyncio.create_task(
        sample_soak(
            rt,  # type: ignore[arg-type]
            [1, 2],
            path,
            series,
            0,
            interval=0.01,
            window=lambda: 4,
            latest=latest,
        )
    )
    await asyncio.sleep(0.15)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) >= 4
    assert {r["node"] for r in rows} == {"n1", "n2"}
    up = [r for r in rows if r["node"] == "n1"]
    assert all(r["up"] and r["pid"] == 1001 and r["window"] == 4 for r in up)
    assert all(not r["up"] for r in rows if r["node"] == "n2")
    assert len(series.nodes["n1"]) == len(up)
    assert latest[2] is None and latest[1] is not None
    # The shared runtime answers from the sampler's newest reading, without sampling again.
    calls = rt.calls
    shared = SharedSamples(rt, latest)  # type: ignore[arg-type]
    assert shared.sample(1) == latest[1]
    assert shared.sample(2) is None
    assert rt.calls == calls
    shared.kill(3)
    assert rt.killed == [3]
    shared.close()  # the soak's runtime is not the window's to close
