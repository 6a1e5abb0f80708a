"""Checkers: what a workload's history must satisfy, supplied by the workload itself.

As in Jepsen, a workload is a partial test: it brings its generator (``stream``), its final
reads and its checker. ``check_run`` (`lab.checks`) runs whatever checker the workload names;
nothing picks a checker by comparing strings. A checker that crashes yields ``unknown`` there,
never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lab.checker import KVModel, SetModel, Verdict, check, write_html
from lab.history import History, Op

FINAL_PROCESS_BASE = 1_000_000
"""Processes at and above this id are the final reads after the heal (see `lab.runner`)."""


@dataclass(frozen=True, slots=True)
class CheckerResult:
    """One checker's verdict and the detail results.json keeps under ``checkers.<name>``."""

    verdict: Verdict
    detail: dict[str, Any] = field(default_factory=dict)


class Checker(Protocol):
    @property
    def name(self) -> str:
        """The key of this checker's verdict in results.json (``linearizable``, ``set``)."""
        ...

    def check(self, history: History, run_dir: Path, timeout: float) -> CheckerResult: ...


def is_final_read(op: Op) -> bool:
    """Whether ``op`` belongs to the reads after the heal (not to the workload proper)."""
    return isinstance(op.process, int) and op.process >= FINAL_PROCESS_BASE


@dataclass(frozen=True, slots=True)
class LinearizableChecker:
    """Wing & Gong search over the kv model; an invalid history leaves counterexample.html."""

    name: str = "linearizable"

    def check(self, history: History, run_dir: Path, timeout: float) -> CheckerResult:
        result = check(KVModel(), history, timeout=timeout)
        if result.verdict is Verdict.INVALID:
            write_html(result, run_dir / "counterexample.html")
        return CheckerResult(result.verdict, result.to_json())


@dataclass(frozen=True, slots=True)
class SetChecker:
    """Each node's final read checked on its own: a write lost on any one node is a loss."""

    name: str = "set"

    def check(self, history: History, run_dir: Path, timeout: float) -> CheckerResult:
        body = [op for op in history.events if not is_final_read(op)]
        nodes = sorted({op.node for op in history.events if is_final_read(op) and op.node})
        if not nodes:
            return CheckerResult(Verdict.UNKNOWN, {"reason": "no final reads were recorded"})
        per_node: dict[str, Any] = {}
        verdicts = []
        for node in nodes:
            finals = [op for op in history.events if is_final_read(op) and op.node == node]
            result = check(SetModel(), History(events=body + finals), timeout=timeout)
            verdicts.append(result.verdict)
            per_node[node] = result.to_json()
        verdict = (
            Verdict.INVALID
            if Verdict.INVALID in verdicts
            else Verdict.UNKNOWN
            if Verdict.UNKNOWN in verdicts
            else Verdict.VALID
        )
        return CheckerResult(verdict, {"per_node": per_node})
