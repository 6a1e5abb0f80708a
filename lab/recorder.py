"""The single writer of a run's history: client events and nemesis events, timestamped.

Times are nanoseconds since the recorder was created (the start of the run), from the monotonic
clock, so a wall-clock jump (or a clock-skew nemesis) cannot reorder the history. Nemesis
events go to ``history.jsonl`` (so checkers and reports see faults in place) and to
``nemesis.jsonl`` (so reports can shade fault windows without reading the whole history).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lab.history import NEMESIS, HistoryWriter, Op
from lab.history.op import OUTCOMES
from lab.workloads.base import Completion, Invocation


class Recorder:
    def __init__(self, run_dir: Path) -> None:
        self._t0 = time.monotonic_ns()
        self.history = HistoryWriter(run_dir / "history.jsonl")
        self.faults = HistoryWriter(run_dir / "nemesis.jsonl")
        self.counts: dict[str, int] = {"invoke": 0, **dict.fromkeys(OUTCOMES, 0)}

    def now(self) -> int:
        return time.monotonic_ns() - self._t0

    def seconds(self) -> float:
        return self.now() / 1e9

    def invoke(self, process: int, inv: Invocation, node: int) -> Op:
        self.counts["invoke"] += 1
        return self.history.record(
            time=self.now(),
            process=process,
            type="invoke",
            f=inv.f,
            key=inv.key,
            value=inv.value,
            node=f"n{node}",
        )

    def complete(self, process: int, inv: Invocation, comp: Completion, node: int) -> Op:
        value = comp.value if comp.type == "ok" else inv.value
        op = self.history.record(
            time=self.now(),
            process=process,
            type=comp.type,
            f=inv.f,
            key=inv.key,
            value=value,
            node=f"n{node}",
            error=comp.error,
            revision=comp.revision if comp.type == "ok" else None,
        )
        self.counts[op.outcome] += 1
        return op

    def nemesis(self, f: str, value: Any, *, phase: str) -> Op:
        """A fault marker: ``phase`` is ``start`` or ``stop`` (recorded as ``f`` = "start-x")."""
        fields = dict(time=self.now(), process=NEMESIS, type="info", f=f"{phase}-{f}", value=value)
        self.faults.record(**fields)
        return self.history.record(**fields)

    def close(self) -> None:
        self.history.close()
        self.faults.close()
