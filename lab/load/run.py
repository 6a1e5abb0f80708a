"""Runs ``aspen-lab load`` from its `LoadConfig`: reach (or start) the cluster, load the
records, run every workload, then write ``results.json`` and ``report.html`` and, when asked,
a baseline. `lab.load.cli` is the command line in front of it.

SIGINT or SIGTERM (`lab.interrupt`): the first ends the phase running and starts no other; what
ran is written and reported as interrupted. The second abandons the operations still in flight.
The nodes started are stopped either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.interrupt import StopRequest
from lab.load import engine, gates, report, results
from lab.load.cluster import local_cluster
from lab.load.config import LoadConfig
from lab.load.engine import Phase, Tally
from lab.load.monitor import Monitor
from lab.load.progress import Progress, RampTally
from lab.load.targets import AspenTarget, EtcdTarget, Target
from lab.load.workloads import KeySpace, Mix, load_plan, plan
from lab.runtime.base import Runtime
from lab.store import new_run_dir, write_json

PLAN_CAP = 1 << 20
"""Pre-generated operations per workload (a longer run cycles through them)."""


@dataclass(frozen=True, slots=True)
class LoadRun:
    """A finished (or stopped) run: where it wrote, what it found, and why it failed if so."""

    run_dir: Path
    results: dict[str, Any]
    error: str | None
    """A setup failure (``Type: message``); the results then hold what was measured."""


def execute(cfg: LoadConfig, baseline: dict[str, Any] | None, stop: StopRequest) -> LoadRun:
    """Run ``cfg`` in a new run directory; compare with ``baseline`` (if any) and write
    results, report and (``cfg.save_baseline``, for a whole clean run) a baseline."""
    run_dir = new_run_dir("load", cfg.store)
    res = results.new_results(cfg.to_json(), cfg.target_json())

    def save(r: dict[str, Any]) -> None:
        write_json(run_dir / "results.json", r)

    error: str | None = None
    try:
        with event_loop_runner(cfg.no_uvloop) as runner:
            runner.run(run_load(cfg, run_dir, res, stop, save))
    except Exception as e:  # setup failures: still write what we have
        error = f"{type(e).__name__}: {e}"
        res["error"] = error
        res["interrupted"] = stop.first or False
    results.finish(res)
    if baseline is not None and res["workloads"]:
        res["gates"] = gates.compare(res, baseline, cfg.thresholds())
    save(res)
    report.write_report(res, run_dir / "report.html")
    if cfg.save_baseline and res["workloads"] and not res["interrupted"] and error is None:
        cfg.save_baseline.parent.mkdir(parents=True, exist_ok=True)
        write_json(cfg.save_baseline, results.as_baseline(res))
    return LoadRun(run_dir, res, error)


STOP_NOTES = (
    "stopping: ending the workload, writing what ran ({signal} again to abandon the operations"
    " still in flight)",
    "abandoning the operations in flight; still stopping the nodes",
)


async def run_load(
    cfg: LoadConfig,
    run_dir: Path,
    res: dict[str, Any],
    stop: StopRequest,
    on_update: Callable[[dict[str, Any]], None] = lambda _r: None,
) -> dict[str, Any]:
    """Set up (or reach) the cluster, load the records, run every workload; fills ``res``.

    A first signal (``stop``) ends the phase running and starts no other; a second abandons
    what is still in flight. The nodes started are stopped either way."""
    async with contextlib.AsyncExitStack() as stack:
        await stop.unless_hurried(_load(cfg, run_dir, res, stop.event(), stack, on_update))
    res["interrupted"] = stop.first or False
    return res


async def _load(
    cfg: LoadConfig,
    run_dir: Path,
    res: dict[str, Any],
    stop: asyncio.Event,
    stack: contextlib.AsyncExitStack,
    on_update: Callable[[dict[str, Any]], None],
) -> None:
    """The part a second signal may cut: what it starts is stopped by ``stack``, outside it."""
    space = cfg.space()
    progress = Progress(not cfg.no_progress)
    runtime: Runtime | None = None
    nodes: list[int] = []
    endpoints = cfg.endpoint_list()
    if not endpoints:
        cluster = await stack.enter_async_context(
            local_cluster(
                cfg.db,
                run_dir,
                nodes=cfg.nodes,
                fsync=cfg.fsync,
                profile_dir=cfg.profile_nodes,
            )
        )
        endpoints = cluster.endpoints
        runtime, nodes = cluster.ctx.runtime, cluster.ctx.nodes
    res["target"]["endpoints"] = endpoints
    connections = max(cfg.clients, cfg.max_in_flight)
    target = make_target(
        cfg.db, endpoints, space, cfg.seed, timeout=cfg.op_timeout, connections=connections
    )
    stack.push_async_callback(target.close)
    await target.start()
    with progress.shown():
        if not cfg.no_load and not stop.is_set():
            lp = load_plan(space, cfg.seed)
            phase = Phase("load", "closed", 600.0, len(lp), cfg.clients)
            tally = Tally(phase)
            async with progress.track("load", len(lp), tally, by_ops=True):
                await engine.run_phase(target, lp, phase, stop=stop, tally=tally)
            res["load_phase"] = tally.summary()
            on_update(res)
        for mix in cfg.mixes():
            if stop.is_set():
                break
            monitor = Monitor(runtime, nodes)
            async with monitor.watching():
                entry = await _workload(target, mix, space, cfg, stop, progress)
            entry["resources"] = monitor.summary()
            res["workloads"][mix.name] = entry
            on_update(res)


def make_target(
    db: str, endpoints: list[str], space: KeySpace, seed: int, *, timeout: float, connections: int
) -> Target:
    keys, values = space.keys(), space.values(seed)
    cls = AspenTarget if db == "aspen" else EtcdTarget
    return cls(endpoints, keys, values, timeout=timeout, connections=connections)


def _entry(mix: Mix, cfg: LoadConfig, summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "workload": mix.name,
        "description": mix.description,
        "distribution": cfg.distribution,
        **summary,
    }


async def _workload(
    target: Target,
    mix: Mix,
    space: KeySpace,
    cfg: LoadConfig,
    stop: asyncio.Event,
    progress: Progress,
) -> dict[str, Any]:
    length = min(cfg.max_ops, PLAN_CAP)
    p = plan(
        mix, space, length=length, seed=cfg.seed, distribution=cfg.distribution, theta=cfg.theta
    )
    if cfg.mode == "ramp":
        ramp = cfg.ramp_plan()
        tallies: list[Tally] = []
        total = ramp.step_duration * len(ramp.rates())
        async with progress.track(f"{mix.name} ramp", total, RampTally(tallies)):
            knee, _ = await engine.run_ramp(
                target,
                p,
                ramp,
                clients=cfg.max_in_flight,
                max_ops=cfg.max_ops,
                stop=stop,
                drain=cfg.op_timeout,
                on_step=lambda _rate, t: tallies.append(t),
            )
        # The workload's numbers are the knee's step (or the first step, if none passed).
        passing = [t for t, s in zip(tallies, knee["steps"], strict=False) if s["passed"]]
        chosen = passing or tallies[:1] or [Tally(Phase(mix.name, "open", 1, 1, 1, ramp.start))]
        shown = chosen[-1].summary()
        return {**_entry(mix, cfg, shown), "ramp": knee}
    if cfg.mode == "open":
        phase = Phase(
            mix.name,
            "open",
            cfg.duration,
            cfg.max_ops,
            cfg.max_in_flight,
            rate=cfg.rate,
            drain=cfg.op_timeout,
        )
    else:
        phase = Phase(mix.name, "closed", cfg.duration, cfg.max_ops, cfg.clients)
    tally = Tally(phase)
    async with progress.track(f"{mix.name} {cfg.mode}", cfg.duration, tally):
        await engine.run_phase(target, p, phase, stop=stop, tally=tally)
    return _entry(mix, cfg, tally.summary())


def event_loop_runner(no_uvloop: bool) -> asyncio.Runner:
    if not no_uvloop:
        try:
            import uvloop

            return asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            pass
    return asyncio.Runner()
