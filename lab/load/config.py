"""What one ``aspen-lab load`` run is asked to do: a typed, checked record between the command
line (`lab.load.cli`) and the run (`lab.load.run`).

Its fields are the command line's options, under the same names, and their defaults are the
command line's defaults (`lab.load.cli` reads them from here). ``to_json`` is what a run's
``results.json`` keeps under ``"config"``.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.load.engine import Ramp
from lab.load.gates import Gates
from lab.load.workloads import KeySpace, Mix, parse_workloads
from lab.store import DEFAULT_ROOT

MODES = ("closed", "open", "ramp")


def parse_ramp(text: str, step_duration: float, p99_ms: float) -> Ramp:
    """``START:STEP:STOP`` ops/s -> a `Ramp`; ValueError when it is not that."""
    try:
        start, step, stop = (float(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"--ramp wants START:STEP:STOP, got {text!r}") from None
    return Ramp(start, step, stop, step_duration, p99_ms)


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """One load run's settings; making one checks them (ValueError before anything starts)."""

    # workload
    workloads: str = "A,B,C,F,W"
    distribution: str = "zipfian"
    theta: float = 0.99
    records: int = 1000
    key_size: int = 16
    value_size: int = 100
    no_load: bool = False
    seed: int = 1
    # load shape: every phase is bounded in time and operations
    mode: str = "closed"
    clients: int = 16
    rate: float = 500.0
    max_in_flight: int = 128
    duration: float = 10.0
    max_ops: int = 1_000_000
    ramp: str = "200:200:4000"
    step_duration: float = 5.0
    p99_bound_ms: float = 50.0
    op_timeout: float = 5.0
    # target
    db: str = "aspen"
    endpoints: str | None = None
    """Comma-separated URLs of a running cluster; None: start a local one."""
    nodes: int = 3
    fsync: str = "always"
    profile_nodes: Path | None = None
    store: Path = DEFAULT_ROOT
    # sign-off gates, in percent
    baseline: Path | None = None
    save_baseline: Path | None = None
    gate_throughput: float = 10.0
    gate_p99: float = 20.0
    gate_error_rate: float = 0.1
    # the terminal and the loop
    no_progress: bool = False
    no_uvloop: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        self.mixes()
        self.space()
        self.thresholds()
        if self.mode == "ramp":
            self.ramp_plan()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LoadConfig:
        """The record of a parsed command line (`lab.load.cli.configure`)."""
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})

    def mixes(self) -> list[Mix]:
        return parse_workloads(self.workloads)

    def space(self) -> KeySpace:
        return KeySpace(self.records, self.key_size, self.value_size)

    def ramp_plan(self) -> Ramp:
        return parse_ramp(self.ramp, self.step_duration, self.p99_bound_ms)

    def thresholds(self) -> Gates:
        return Gates(self.gate_throughput / 100, self.gate_p99 / 100, self.gate_error_rate / 100)

    def endpoint_list(self) -> list[str]:
        """The given cluster's URLs; empty: start a local cluster."""
        return [e.strip() for e in (self.endpoints or "").split(",") if e.strip()]

    def target_json(self) -> dict[str, Any]:
        return {"db": self.db, "nodes": self.nodes, "fsync": self.fsync}

    def to_json(self) -> dict[str, Any]:
        return {
            f.name: str(v) if isinstance(v := getattr(self, f.name), Path) else v
            for f in dataclasses.fields(self)
        }
