"""Turn a finished run directory into verdicts and numbers (``results.json``).

Verdicts are per checker — ``linearizable`` (register workloads, Wing & Gong search over the
kv model), ``set`` (every node's final read holds every acknowledged add), ``recovery`` (the
healed cluster converged in time) — and the run is valid only if every one is ``valid``. A
checker that crashes or runs out of time gives ``unknown``, never a pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.checker import KVModel, SetModel, Verdict, check, write_html
from lab.history import History, Op, read_jsonl
from lab.runner import FINAL_PROCESS_BASE
from lab.stats import summarize

if TYPE_CHECKING:
    from lab.runner import RunOutcome
    from lab.test import LabTest


def _linearizable(history: History, run_dir: Path, timeout: float) -> tuple[str, dict[str, Any]]:
    result = check(KVModel(), history, timeout=timeout)
    if result.verdict is Verdict.INVALID:
        write_html(result, run_dir / "counterexample.html")
    return str(result.verdict), result.to_json()


def is_final_read(op: Op) -> bool:
    """Whether ``op`` belongs to the reads after the heal (not to the workload proper)."""
    return isinstance(op.process, int) and op.process >= FINAL_PROCESS_BASE


def _set(history: History, timeout: float) -> tuple[str, dict[str, Any]]:
    """Check each node's final read on its own: a write lost on any one node is a loss."""
    body = [op for op in history.events if not is_final_read(op)]
    nodes = sorted({op.node for op in history.events if is_final_read(op) and op.node})
    per_node: dict[str, Any] = {}
    verdicts = []
    for node in nodes:
        finals = [op for op in history.events if is_final_read(op) and op.node == node]
        result = check(SetModel(), History(events=body + finals), timeout=timeout)
        verdicts.append(result.verdict)
        per_node[node] = result.to_json()
    if not nodes:
        return str(Verdict.UNKNOWN), {"reason": "no final reads were recorded"}
    verdict = (
        Verdict.INVALID
        if Verdict.INVALID in verdicts
        else Verdict.UNKNOWN
        if Verdict.UNKNOWN in verdicts
        else Verdict.VALID
    )
    return str(verdict), {"per_node": per_node}


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
) -> dict[str, Any]:
    """``results.json`` for a run. ``interrupted`` names the signal that stopped it early:
    such a run is never valid, and ``checked=False`` (a second signal) skips the checkers,
    whose verdicts then say ``unknown``."""
    verdicts: dict[str, str] = {}
    checkers: dict[str, Any] = {}
    errors = [error] if error else []
    history_path = run_dir / "history.jsonl"
    history = read_jsonl(history_path) if history_path.exists() else History(events=[])
    model = test.the_scenario.workload
    try:
        if not checked:
            verdicts["linearizable" if model == "register" else "set"] = str(Verdict.UNKNOWN)
        elif model == "register":
            verdicts["linearizable"], checkers["linearizable"] = _linearizable(
                history, run_dir, checker_timeout
            )
        else:
            verdicts["set"], checkers["set"] = _set(history, checker_timeout)
    except Exception as e:  # a checker that crashes must say unknown, never pass
        verdicts["linearizable" if model == "register" else "set"] = str(Verdict.UNKNOWN)
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
        "errors": errors,
        "wall_seconds": round(wall_seconds, 3),
        **summarize(history.events, None if interrupted else test.duration),
    }
