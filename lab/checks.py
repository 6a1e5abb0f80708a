"""Turn a finished run directory into verdicts and numbers (``results.json``).

Verdicts are per checker — ``linearizable`` (register workloads, Wing & Gong search over the
kv model), ``set`` (every node's final read holds every acknowledged add), ``recovery`` (the
healed cluster converged in time) — and the run is valid only if every one is ``valid``. A
checker that crashes or runs out of time gives ``unknown``, never a pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.checker import Verdict
from lab.history import History, read_jsonl
from lab.stats import summarize
from lab.workloads.checkers import Checker, is_final_read

if TYPE_CHECKING:
    from lab.runner import RunOutcome
    from lab.test import LabTest

__all__ = ["check_run", "is_final_read"]


def check_run(
    run_dir: Path,
    test: LabTest,
    outcome: RunOutcome | None,
    error: str | None,
    *,
    wall_seconds: float,
    checker_timeout: float = 60.0,
    interrupted: str | None = None,
    checked: bool = True,
    checker: Checker | None = None,
) -> dict[str, Any]:
    """``results.json`` for a run. ``interrupted`` names the signal that stopped it early:
    such a run is never valid, and ``checked=False`` (a second signal) skips the checkers,
    whose verdicts then say ``unknown``. ``checker`` is the one the run's workload supplies
    (default: the test's workload's)."""
    verdicts: dict[str, str] = {}
    checkers: dict[str, Any] = {}
    errors = [error] if error else []
    history_path = run_dir / "history.jsonl"
    history = read_jsonl(history_path) if history_path.exists() else History(events=[])
    checker = checker or test.workload().checker
    try:
        if not checked:
            verdicts[checker.name] = str(Verdict.UNKNOWN)
        else:
            result = checker.check(history, run_dir, checker_timeout)
            verdicts[checker.name], checkers[checker.name] = str(result.verdict), result.detail
    except Exception as e:  # a checker that crashes must say unknown, never pass
        verdicts[checker.name] = str(Verdict.UNKNOWN)
        errors.append(f"checker crashed: {e!r}")
    if outcome is None or (interrupted and outcome.recovery_seconds is None):
        verdicts["recovery"] = str(Verdict.UNKNOWN)  # not waited for: says nothing
    else:
        verdicts["recovery"] = str(Verdict.VALID if outcome.recovered else Verdict.INVALID)
        errors.extend(outcome.errors)
    valid = (
        all(v == str(Verdict.VALID) for v in verdicts.values()) and not errors and not interrupted
    )
    return {
        "db": test.db,
        "scenario": test.scenario,
        "seed": test.seed,
        "nodes": test.nodes,
        "duration": test.duration,
        "runtime": test.runtime,
        "node_options": {
            "fsync": test.node_options.fsync,
            "stale_reads": test.node_options.stale_reads,
        },
        "rerun": test.rerun_command(),
        "valid": valid,
        "interrupted": interrupted,
        "checked": checked,
        "verdicts": verdicts,
        "checkers": checkers,
        "recovery_seconds": None if outcome is None else outcome.recovery_seconds,
        "final_statuses": [] if outcome is None else outcome.final_statuses,
        "faults": []
        if outcome is None
        else [
            {"fault": w.fault, "start": w.start, "end": w.end, "seed": w.seed}
            for w in outcome.windows
        ],
        "skipped_faults": _skipped(test),
        "errors": errors,
        "wall_seconds": round(wall_seconds, 3),
        **summarize(history.events, None if interrupted else test.duration),
    }


def _skipped(test: LabTest) -> list[dict[str, str]]:
    """The scenario's faults this run left out, and why (`lab.chaos.support`)."""
    try:
        plan = test.fault_plan()
    except ValueError as e:
        return [{"fault": "*", "reason": str(e)}]
    return [{"fault": s.fault, "reason": s.reason} for s in plan.skipped]
