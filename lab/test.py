"""A lab test is a record of parts; ``run_test`` runs one and writes its run directory.

Everything needed to rerun a test is in its ``config.json``: the scenario, seed, node count,
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.chaos.scenarios import SCENARIOS, Scenario
from lab.chaos.schedule import build_schedule
from lab.context import NodeOptions, RunContext
from lab.db.base import DB
from lab.interrupt import StopRequest
from lab.net import attach_network
from lab.recorder import Recorder
from lab.runner import Phases, RunOutcome, run_workload
from lab.runtime.base import Runtime
from lab.store import DEFAULT_ROOT, new_run_dir, write_json
from lab.workloads import RegisterWorkload, SetWorkload, Workload

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

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            known = ", ".join(sorted(SCENARIOS))
            raise ValueError(f"unknown scenario {self.scenario!r}; known: {known}")
        if self.nodes < 1:
            raise ValueError("nodes must be >= 1")
        if self.duration <= 0:
            raise ValueError("duration must be > 0")
        unknown = set(self.faults) - set(self.the_scenario.build())
        if unknown:
            raise ValueError(f"scenario {self.scenario!r} has no faults {sorted(unknown)}")
        from lab.chaos.ip import runtime_problem

        problem = runtime_problem(self.the_scenario, self.runtime)
        if problem:
            raise ValueError(problem)

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
    node_ids = list(range(1, test.nodes + 1))
    if test.runtime == "local":
        from lab.runtime.local import LocalRuntime

        return LocalRuntime(run_dir, node_ids, run_id)
    if test.runtime == "docker":
        from lab.runtime.docker import DockerRuntime

        runtime: Runtime = DockerRuntime(run_dir, node_ids, run_id)
        return runtime
    raise ValueError(f"unknown runtime {test.runtime!r} (local, docker)")


def make_db(test: LabTest) -> DB:
    from lab.db.aspen import AspenDB

    return AspenDB()


async def _run(
    test: LabTest, ctx: RunContext, progress: Callable[[float], None], stop: StopRequest
) -> RunOutcome:
    scenario = test.the_scenario
    db = ctx.the_db
    await db.setup(ctx)
    workload: Workload = (
        RegisterWorkload(seed=test.seed, keys=test.keys)
        if scenario.workload == "register"
        else SetWorkload(seed=test.seed)
    )
    nemeses = {
        name: nem
        for name, nem in scenario.build().items()
        if name in test.faults or not test.faults
    }
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
    progress: Callable[[float], None] = lambda _t: None,
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
            if test.the_scenario.needs_network:
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
