"""A lab test is a record of parts; ``run_test`` runs one and writes its run directory.

As in Jepsen, the parts are separate: the *db* (``--db``: Aspen, etcd, or an adapter of your
own, see `lab.db.registry`) runs the system on a *runtime*; the scenario's *workload* brings its
generator and its checker (`lab.workloads.WORKLOADS`); the scenario's *nemeses* inject faults,
less those this runtime and db cannot inject honestly (`lab.chaos.support`).

Everything needed to rerun a test is in its ``config.json``: the db, scenario, seed, node count,
duration, runtime and node options, and the exact command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.chaos.scenarios import SCENARIOS, Scenario
from lab.chaos.schedule import build_schedule
from lab.chaos.support import FaultPlan, needs_links, plan_faults
from lab.context import NodeOptions, RunContext
from lab.db.base import DB
from lab.db.registry import load_db
from lab.interrupt import StopRequest
from lab.net import attach_network
from lab.recorder import Recorder
from lab.runner import Phases, Progress, RunOutcome, RunStatus, run_workload
from lab.runtime.base import Runtime
from lab.runtime.swarm_options import SwarmOptions
from lab.store import DEFAULT_ROOT, new_run_dir, write_json
from lab.workloads import WORKLOADS, Workload, WorkloadParams

log = logging.getLogger("lab")


@dataclass(frozen=True)
class LabTest:
    scenario: str
    seed: int = 1
    nodes: int = 3
    duration: float = 30.0
    concurrency: int = 6
    rate: float = 0.0
    runtime: str = "local"
    node_options: NodeOptions = field(default_factory=NodeOptions)
    store: Path = DEFAULT_ROOT
    keys: int = 5
    op_timeout: float = 2.0
    recovery_timeout: float = 30.0
    faults: tuple[str, ...] = ()
    """Only these of the scenario's nemeses (by name); empty = all of them."""
    db: str = "aspen"
    """The system under test: ``aspen``, ``etcd``, ``module:Class`` or an adapter ``.toml``."""
    swarm: SwarmOptions = field(default_factory=SwarmOptions)
    """How the swarm runtime uses Swarm (ignored by the other runtimes)."""

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            known = ", ".join(sorted(SCENARIOS))
            raise ValueError(f"unknown scenario {self.scenario!r}; known: {known}")
        if self.nodes < 1:
            raise ValueError("nodes must be >= 1")
        if self.duration <= 0:
            raise ValueError("duration must be > 0")
        db = load_db(self.db)
        if self.runtime not in db.runtimes:
            raise ValueError(
                f"{db.name} runs on the {', '.join(db.runtimes)} runtime, not {self.runtime}"
            )
        self.fault_plan(db)  # raises on faults that cannot run

    def fault_plan(self, db: DB | None = None) -> FaultPlan:
        """The scenario's faults this run injects, and those left out with why."""
        db = db or load_db(self.db)
        return plan_faults(self.the_scenario, self.faults, self.runtime, db, self.nodes)

    def workload(self) -> Workload:
        """The scenario's workload: its generator, final reads and checker."""
        return WORKLOADS[self.the_scenario.workload](WorkloadParams(self.seed, self.keys))

    @property
    def the_scenario(self) -> Scenario:
        return SCENARIOS[self.scenario]

    def rerun_command(self) -> str:
        args = [
            "nox", "-s", "chaos", "--",
            "--scenario", self.scenario,
            "--seed", str(self.seed),
            "--nodes", str(self.nodes),
            "--duration", f"{self.duration:g}",
            "--concurrency", str(self.concurrency),
            "--runtime", self.runtime,
        ]  # fmt: skip
        if self.db != LabTest.db:
            args += ["--db", self.db]
        if self.rate:
            args += ["--rate", f"{self.rate:g}"]
        if self.keys != LabTest.keys:
            args += ["--keys", str(self.keys)]
        if self.node_options.fsync != "always":
            args += ["--fsync", self.node_options.fsync]
        if self.node_options.stale_reads:
            args += ["--stale-reads"]
        for fault in self.faults:
            args += ["--fault", fault]
        if self.runtime == "swarm":
            args += self.swarm.argv()
        return shlex.join(args)


def _config_json(test: LabTest, run_id: str) -> dict[str, Any]:
    d = asdict(test)
    d["store"] = str(test.store)
    d["run_id"] = run_id
    d["rerun"] = test.rerun_command()
    d["argv"] = sys.argv
    d["python"] = sys.version.split()[0]
    return d


def make_runtime(test: LabTest, run_dir: Path, run_id: str) -> Runtime:
    """The test's runtime. A direct db's links are faulted with nftables: locally in per-node
    namespaces (only when a fault acts on links), in Docker in the node containers."""
    node_ids = list(range(1, test.nodes + 1))
    if test.runtime == "local" and _namespaced(test):
        from lab.runtime.netns import NetnsRuntime

        return NetnsRuntime(run_dir, node_ids, run_id)
    if test.runtime == "local":
        from lab.runtime.local import LocalRuntime

        return LocalRuntime(run_dir, node_ids, run_id)
    if test.runtime == "docker":
        from lab.runtime.docker import DockerRuntime

        db = load_db(test.db)
        image_for = getattr(db, "docker_image", None)  # optional: else the Aspen node image
        image = image_for(Path.cwd(), log.info) if image_for is not None else None
        docker = DockerRuntime(run_dir, node_ids, run_id, image=image)
        if db.peer_links == "direct":
            docker.use_nftables_links()
        return docker
    if test.runtime == "swarm":
        from lab.runtime.swarm import SwarmRuntime

        return SwarmRuntime(run_dir, node_ids, run_id, options=test.swarm)
    raise ValueError(f"unknown runtime {test.runtime!r} (local, docker, swarm)")


def _namespaced(test: LabTest) -> bool:
    """Whether the run faults the peer links of a db whose peers talk directly."""
    db = load_db(test.db)
    nemeses = test.the_scenario.build()
    return db.peer_links == "direct" and any(
        needs_links(nemeses[name]) for name in test.fault_plan(db).run
    )


def make_db(test: LabTest) -> DB:
    return load_db(test.db)


async def _run(test: LabTest, ctx: RunContext, progress: Progress, stop: StopRequest) -> RunOutcome:
    scenario = test.the_scenario
    db = ctx.the_db
    progress(RunStatus("setup"))
    await db.setup(ctx)
    workload = test.workload()
    plan = test.fault_plan(db)
    nemeses = {name: nem for name, nem in scenario.build().items() if name in plan.run}
    windows = build_schedule(test.seed, test.duration, list(nemeses), scenario.timing)
    phases = Phases(
        duration=test.duration,
        op_timeout=test.op_timeout,
        recovery_timeout=test.recovery_timeout,
        rate=test.rate,
        concurrency=test.concurrency,
    )
    return await run_workload(ctx, workload, nemeses, windows, phases, progress, stop=stop)


def run_test(
    test: LabTest,
    progress: Progress = lambda _s: None,
    stop: StopRequest | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run one test; returns its run directory and results (also in ``results.json``).

    ``stop`` (see `lab.interrupt`) ends the run early: what was started is stopped, and what
    ran is checked unless the stop was hurried; the results say it was interrupted.
    """
    stop = stop or StopRequest()
    from lab.checks import check_run

    run_dir = new_run_dir(test.scenario, test.store)
    run_id = f"{test.scenario}-{run_dir.name}-{uuid.uuid4().hex[:6]}"
    write_json(run_dir / "config.json", _config_json(test, run_id))
    handler = logging.FileHandler(run_dir / "lab.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    recorder = Recorder(run_dir)
    started = time.monotonic()
    outcome: RunOutcome | None = None
    error: str | None = None
    try:
        runtime = make_runtime(test, run_dir, run_id)  # inside: a failed image build is a result
        ctx = RunContext(
            run_dir=run_dir,
            run_id=run_id,
            seed=test.seed,
            nodes=list(range(1, test.nodes + 1)),
            runtime=runtime,
            recorder=recorder,
            node_options=test.node_options,
            db=make_db(test),
            log=log,
        )
        with contextlib.ExitStack() as stack:
            network = getattr(runtime, "network", None)  # per-node namespaces (NetnsRuntime)
            if network is not None:
                ctx.net = network
            elif test.the_scenario.needs_network and ctx.the_db.peer_links == "proxied":
                ctx.net = attach_network(stack, runtime, ctx.nodes)
            try:
                outcome = asyncio.run(_run(test, ctx, progress, stop))
            finally:
                with contextlib.suppress(Exception):
                    asyncio.run(ctx.the_db.teardown(ctx))
                runtime.close()
    except KeyboardInterrupt:  # no handler installed (see lab.interrupt): the same outcome
        stop.receive("SIGINT")
    except Exception as e:
        log.exception("run failed")
        error = f"run failed: {e!r}"
    finally:
        recorder.close()
        log.removeHandler(handler)
        handler.close()
    if not stop.hurried:
        progress(RunStatus("checking", ok=recorder.counts["ok"]))
    results = check_run(
        run_dir,
        test,
        outcome,
        error,
        wall_seconds=time.monotonic() - started,
        interrupted=stop.first,
        checked=not stop.hurried,
    )
    write_json(run_dir / "results.json", results)
    return run_dir, results
