"""Many seeds across all cores: ``python -m aspen.sim --seeds 1-10000 [--jobs N]``.

Each seed is one :func:`aspen.sim.run.run` in a worker process; a worker returns a small
:class:`SeedOutcome` (never the history), and the parent prints each failure as it arrives with
the command that replays it, then a summary: seeds, simulated time, faults injected, invariant
checks, failures, and the simulator's speed (seeds per CPU-second, simulated seconds per wall
second). CPU and wall time are measured here, outside the simulation, as in ``bench``: a run
itself never reads a clock, so the numbers do not change what a seed does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from aspen.sim.run import run
from aspen.sim.scheduler import NS_PER_MS


@dataclass(frozen=True, slots=True)
class SeedOutcome:
    seed: int
    simulated_ns: int
    faults: int
    checks: int
    cpu_seconds: float
    failure: str | None
    """The first line of the violation, or why the run was not live; None if it passed."""
    replay: str


@dataclass(slots=True)
class Exploration:
    """What a batch of seeds did, added up."""

    seeds: int = 0
    simulated_ns: int = 0
    faults: int = 0
    checks: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    failures: list[SeedOutcome] = field(default_factory=list)

    def add(self, o: SeedOutcome) -> None:
        self.seeds += 1
        self.simulated_ns += o.simulated_ns
        self.faults += o.faults
        self.checks += o.checks
        self.cpu_seconds += o.cpu_seconds
        if o.failure is not None:
            self.failures.append(o)

    def summary(self) -> str:
        sim_s = self.simulated_ns / 1e9
        lines = [
            f"{self.seeds} seeds, {sim_s:,.0f} s simulated, {self.faults:,} faults injected, "
            f"{self.checks:,} invariant checks",
            f"speed: {self.seeds / max(self.cpu_seconds, 1e-9):.2f} seeds per CPU-second, "
            f"{sim_s / max(self.wall_seconds, 1e-9):.1f} simulated s per wall s "
            f"({sim_s / max(self.cpu_seconds, 1e-9):.1f} per CPU-second; "
            f"{self.cpu_seconds:.1f} CPU-s in {self.wall_seconds:.1f} wall s)",
            f"{len(self.failures)} failing seed(s)" + ("" if not self.failures else ":"),
        ]
        for o in sorted(self.failures, key=lambda o: o.seed):
            lines.append(f"  seed {o.seed}: {o.failure}")
            lines.append(f"    replay: {o.replay}")
        return "\n".join(lines)


def run_seed(seed: int, steps: int, nodes: int, faults: str) -> SeedOutcome:
    """One seed, reduced to what the summary needs."""
    started = time.process_time()
    r = run(seed, steps, nodes, faults)
    cpu = time.process_time() - started
    failure = None
    if r.violation is not None:
        failure = r.violation.splitlines()[0]
    elif r.liveness_checked and not r.live:
        failure = "liveness: no write committed within the bound after the heal"
    return SeedOutcome(
        seed=seed,
        simulated_ns=r.steps * r.config.tick_ms * NS_PER_MS,
        faults=r.faults_injected,
        checks=r.invariant_checks,
        cpu_seconds=cpu,
        failure=failure,
        replay=r.replay,
    )


def outcomes(
    seeds: Iterable[int], steps: int, nodes: int, faults: str, jobs: int
) -> Iterator[SeedOutcome]:
    """Every seed's outcome, in seed order; ``jobs`` worker processes (1: in this process)."""
    seeds = list(seeds)
    if jobs <= 1:
        for seed in seeds:
            yield run_seed(seed, steps, nodes, faults)
        return
    n = len(seeds)
    with ProcessPoolExecutor(jobs) as pool:
        yield from pool.map(
            run_seed,
            seeds,
            [steps] * n,
            [nodes] * n,
            [faults] * n,
            chunksize=max(1, n // (jobs * 8)),
        )


def parse_seeds(text: str) -> range:
    """``"A-B"`` (inclusive) or ``"A"``."""
    lo, _, hi = text.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def explore(
    seeds: Iterable[int], steps: int, nodes: int, faults: str, jobs: int | None = None
) -> Exploration:
    """Run ``seeds``, print each failure as it comes and the summary at the end."""
    total = Exploration()
    started = time.perf_counter()
    for o in outcomes(seeds, steps, nodes, faults, jobs or os.cpu_count() or 1):
        total.add(o)
        if o.failure is not None:
            print(f"seed {o.seed}: FAIL {o.failure}\n  replay: {o.replay}", flush=True)
    total.wall_seconds = time.perf_counter() - started
    print(total.summary(), flush=True)
    return total
