"""What a soak is asked to do: `SoakConfig`, and the command line that asks for it again."""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.chaos.scenarios import SCENARIOS
from lab.context import NodeOptions
from lab.soak.leaks import Thresholds
from lab.soak.plan import format_duration
from lab.soak.results import default_warmup
from lab.store import DEFAULT_ROOT
from lab.test import LabTest


@dataclass(frozen=True)
class SoakConfig:
    duration: float = 120.0
    """Seconds of workload across all windows (heal, recovery and final reads come on top)."""
    window: float = 60.0
    scenario: str = "mixed"
    faults: tuple[str, ...] = ()
    """Only these of the scenario's faults; empty = all of them."""
    nodes: int = 3
    seed: int = 1
    rate: float = 100.0
    """Total ops/s across all worker slots."""
    concurrency: int = 4
    keys: int = 5
    """Register keys per window."""
    runtime: str = "local"
    store: Path = DEFAULT_ROOT
    node_options: NodeOptions = field(default_factory=NodeOptions)
    warmup: float | None = None
    """Seconds of the soak the leak checks skip; None: `default_warmup` of the duration."""
    restart_warmup: float = 15.0
    """Seconds skipped after each node restart (a new process is still starting)."""
    sample_interval: float = 1.0
    op_timeout: float = 2.0
    recovery_timeout: float = 30.0
    checker_timeout: float = 120.0
    window_reports: str = "failed"
    """Per-window report.html: ``all``, ``failed`` or ``none``."""
    report_every: float = 1800.0
    """Soak seconds between redraws of report.html while the soak runs (in the checker's
    process), so a soak cut short by a CI time limit still leaves a recent page."""
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; known: {sorted(SCENARIOS)}")
        if SCENARIOS[self.scenario].workload != "register":
            raise ValueError(
                f"scenario {self.scenario!r} runs a {SCENARIOS[self.scenario].workload} "
                "workload; a soak checks registers (pick one of its faults from `mixed` instead)"
            )
        unknown = set(self.faults) - set(SCENARIOS[self.scenario].build())
        if unknown:
            raise ValueError(f"scenario {self.scenario!r} has no faults {sorted(unknown)}")
        if self.duration <= 0 or self.window <= 0:
            raise ValueError("duration and window must be > 0")
        if self.nodes < 1 or self.concurrency < 1 or self.keys < 1:
            raise ValueError("nodes, concurrency and keys must be >= 1")
        if self.rate < 0:
            raise ValueError("rate must be >= 0 (0 = closed loop)")
        if self.window_reports not in ("all", "failed", "none"):
            raise ValueError("window_reports is one of all, failed, none")

    @property
    def warmup_s(self) -> float:
        return default_warmup(self.duration) if self.warmup is None else self.warmup

    @property
    def fault_names(self) -> list[str]:
        return [n for n in SCENARIOS[self.scenario].build() if not self.faults or n in self.faults]

    def lab_test(self, seed: int, duration: float) -> LabTest:
        """The chaos-test record of one window (what `lab.checks.check_run` reads)."""
        return LabTest(
            scenario=self.scenario,
            seed=seed,
            nodes=self.nodes,
            duration=duration,
            concurrency=self.concurrency,
            rate=self.rate,
            runtime=self.runtime,
            node_options=self.node_options,
            store=self.store,
            keys=self.keys,
            op_timeout=self.op_timeout,
            recovery_timeout=self.recovery_timeout,
            faults=self.faults,
        )

    def rerun_command(self) -> str:
        args = [
            "nox", "-s", "soak", "--",
            "--duration", format_duration(self.duration),
            "--window", format_duration(self.window),
            "--scenario", self.scenario,
            "--seed", str(self.seed),
            "--nodes", str(self.nodes),
            "--rate", f"{self.rate:g}",
            "--concurrency", str(self.concurrency),
        ]  # fmt: skip
        if self.runtime != "local":
            args += ["--runtime", self.runtime]
        for fault in self.faults:
            args += ["--fault", fault]
        return shlex.join(args)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["store"] = str(self.store)
        d["faults"] = list(self.faults)
        d["warmup_s"] = self.warmup_s
        d["rerun"] = self.rerun_command()
        return d
