"""The soak's orchestration on a fake cluster: windows one after another on one cluster, each
checked while the next runs, results.json after every window, one sampler, a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lab.chaos.scenarios import SCENARIOS, Scenario
from lab.context import RunContext
from lab.db.base import NodeStatus
from lab.runtime.base import Endpoint, NodeCommand, NodeState, ResourceSample
from lab.soak import run as soak_run
from lab.soak.config import SoakConfig
from lab.soak.run import Hooks, Soak, SoakStatus
from lab.soak.window import WindowResult
from lab.workloads.base import Completion, Invocation


class FakeRuntime:
    name = "fake"

    def __init__(self, run_dir: Path, nodes: Sequence[int]) -> None:
        self.run_dir = run_dir
        self.states = {n: NodeState.NEW for n in nodes}
        self.pids = {n: n for n in nodes}
        self.closed = False

    def endpoint(self, node_id: int, service: str) -> Endpoint:
        return Endpoint("127.0.0.1", 10_000 + node_id)

    def data_dir(self, node_id: int) -> str:
        return str(self.run_dir / "nodes" / f"n{node_id}")

    def log_path(self, node_id: int) -> Path:
        return self.run_dir / "nodes" / f"n{node_id}.log"

    def start(self, node_id: int, command: NodeCommand) -> None:
        self.states[node_id] = NodeState.RUNNING
        self.pids[node_id] += 100

    def stop(self, node_id: int, grace: float = 5.0) -> None:
        self.states[node_id] = NodeState.STOPPED

    kill = stop

    def pause(self, node_id: int) -> None:
        self.states[node_id] = NodeState.PAUSED

    def resume(self, node_id: int) -> None:
        self.states[node_id] = NodeState.RUNNING

    def restart(self, node_id: int) -> None:
        self.start(node_id, NodeCommand([], {}))

    def wipe(self, node_id: int) -> None:
        pass

    def state(self, node_id: int) -> NodeState:
        return self.states[node_id]

    def exit_code(self, node_id: int) -> int | None:
        return None

    def sample(self, node_id: int) -> ResourceSample | None:
        if self.states[node_id] is NodeState.STOPPED:
            return None
        return ResourceSample(2.0, 50_000_000, 20, 6, 4096)

    def pid(self, node_id: int) -> int:
        return self.pids[node_id]

    def provide_toxiproxy(self, stack: contextlib.ExitStack) -> Any:
        raise AssertionError("the fake scenario needs no network")

    def close(self) -> None:
        self.closed = True


class FakeClient:
    """A linearizable register per key (one dict, one event loop)."""

    def __init__(self, db: FakeDB) -> None:
        self.db = db

    async def invoke(self, inv: Invocation) -> Completion:
        await asyncio.sleep(0.001)
        data, key = self.db.data, inv.key or ""
        self.db.keys.add(key)
        self.db.applied += 1
        if inv.f == "read":
            return Completion("ok", data.get(key))
        if inv.f == "write":
            data[key] = inv.value
            return Completion("ok")
        expected, new = inv.value
        if data.get(key) != expected:
            return Completion.compare_failed()
        data[key] = new
        return Completion("ok")

    async def close(self) -> None:
        pass


class FakeDB:
    name = "fake"

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.keys: set[str] = set()
        self.applied = 0
        self.setups = 0

    async def setup(self, ctx: RunContext) -> None:
        self.setups += 1
        for n in ctx.nodes:
            self.start_node(ctx, n)

    def start_node(
        self, ctx: RunContext, node_id: int, env: Mapping[str, str] | None = None
    ) -> None:
        ctx.runtime.start(node_id, NodeCommand([], {}))

    async def status(self, ctx: RunContext, node_id: int) -> NodeStatus | None:
        return NodeStatus(node_id, "follower", 1, 1, self.applied, self.applied)

    async def leader(self, ctx: RunContext) -> int | None:
        return 1

    def client(self, ctx: RunContext, node_id: int, *, stale_reads: bool = False) -> FakeClient:
        return FakeClient(self)

    async def teardown(self, ctx: RunContext) -> None:
        for n in ctx.nodes:
            ctx.runtime.stop(n)


class FakeNemesis:
    name = "fake-fault"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def start(self, ctx: RunContext, seed: int) -> Any:
        self.log.append(f"start {ctx.seed}")
        return {"seed": seed}

    async def stop(self, ctx: RunContext) -> Any:
        self.log.append("stop")
        return {}

    async def heal(self, ctx: RunContext) -> Any:
        return None


@pytest.fixture
def fake_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A fake scenario, runtime and database; checks in a thread (they see the fake scenario)."""
    faults: list[str] = []
    parts: dict[str, Any] = {"faults": faults, "db": FakeDB()}
    scenario = Scenario("fake-soak", "fake", lambda: [FakeNemesis(faults)], needs_network=False)
    monkeypatch.setitem(SCENARIOS, "fake-soak", scenario)

    def make_runtime(test: Any, run_dir: Path, run_id: str) -> FakeRuntime:
        runtime = FakeRuntime(run_dir, list(range(1, test.nodes + 1)))
        parts["runtime"] = runtime
        return runtime

    monkeypatch.setattr(soak_run, "make_runtime", make_runtime)
    monkeypatch.setattr(soak_run, "make_db", lambda test: parts["db"])
    with ThreadPoolExecutor(1) as pool:
        parts["pool"] = pool
        parts["cfg"] = SoakConfig(
            duration=6, window=2, scenario="fake-soak", seed=5, rate=200, concurrency=2,
            store=tmp_path, sample_interval=0.2, restart_warmup=0.5, report_every=1e9,
        )  # fmt: skip
        yield parts


def test_windows_run_on_one_cluster_and_are_checked_one_by_one(fake_lab: dict[str, Any]) -> None:
    seen: list[int] = []
    ticks: list[SoakStatus] = []

    def on_window(w: WindowResult) -> None:
        results = json.loads((soak.soak_dir / "results.json").read_text())
        seen.append(results["windows_checked"])  # written before the hook runs
        assert results["running"]

    soak = Soak(
        fake_lab["cfg"], Hooks(tick=ticks.append, window=on_window), checker=fake_lab["pool"]
    )
    soak_dir, res = soak.run()
    assert res["valid"] and res["complete"], (res["verdicts"], res["errors"])
    assert res["verdicts"] == {"windows": "valid", "leaks": "valid"}
    assert sorted(seen) == [1, 2, 3]
    assert fake_lab["db"].setups == 1  # one cluster for the whole soak
    assert fake_lab["runtime"].closed
    # One fault per window, each window with its own seed; keys namespaced per window.
    assert [f.split()[0] for f in fake_lab["faults"]] == ["start", "stop"] * 3
    assert len({f for f in fake_lab["faults"] if f.startswith("start")}) == 3
    prefixes = {k.split("-")[0] for k in fake_lab["db"].keys}
    assert prefixes == {"w0000", "w0001", "w0002"}
    for w in res["windows"]:
        assert w["status"] == "valid" and w["ops"]["ok"] > 50
        assert w["faults"][0]["fault"] == "fake-fault"
        wdir = soak_dir / w["dir"]
        assert json.loads((wdir / "results.json").read_text())["valid"]
        assert (wdir / "resources.jsonl").is_file()  # the runner's own, fed by the soak's sampler
    # One soak-wide sampler: every window in one file, time increasing.
    rows = [json.loads(x) for x in (soak_dir / "resources.jsonl").read_text().splitlines()]
    assert {r.get("window") for r in rows} >= {0, 1, 2}
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    assert (soak_dir / "report.html").is_file()
    assert not (soak_dir / "history.jsonl").exists()  # the setup recorder left nothing behind
    assert any(t.fault == "fake-fault" for t in ticks) or ticks


def test_stop_ends_the_current_window_and_keeps_what_ran(fake_lab: dict[str, Any]) -> None:
    def on_tick(st: SoakStatus) -> None:
        if st.window == 1 and st.progress_s > 2.8:
            soak.stop()

    soak = Soak(fake_lab["cfg"], Hooks(tick=on_tick), checker=fake_lab["pool"])
    soak_dir, res = soak.run()
    assert res["interrupted"] and not res["complete"]
    assert res["windows_checked"] == 2 and res["windows_planned"] == 3
    first, cut = res["windows"]
    assert first["status"] == "valid"
    assert cut["interrupted"] and cut["status"] == "interrupted"
    assert cut["verdicts"]["linearizable"] == "valid"
    assert cut["length_s"] < 2
    assert res["verdicts"]["windows"] == "valid"
    assert not (soak_dir / "windows" / "0002").exists()
    assert (soak_dir / "report.html").is_file()
    assert fake_lab["runtime"].closed


def test_a_long_soak_redraws_its_report_as_it_goes(fake_lab: dict[str, Any]) -> None:
    drawn: list[bool] = []

    def on_window(w: WindowResult) -> None:
        drawn.append((soak.soak_dir / "report.html").is_file())

    # Checks and redraws share the one checker thread, first come first served: by the time
    # the last window is checked, a redraw asked for after an earlier one has happened.
    cfg = dataclasses.replace(fake_lab["cfg"], report_every=2.0)
    soak = Soak(cfg, Hooks(window=on_window), checker=fake_lab["pool"])
    soak.run()
    assert drawn[0] is False and drawn[-1] is True
