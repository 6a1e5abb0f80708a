"""The checker's counterexamples, from ``results.json``, as tables and timelines for a report.

``results.json`` always holds each invalid partition's message and the operations that matter
(the smallest failing window, the end of the linearizable prefix, the culprit). When the run
directory also has ``counterexample.html`` (the checker's own page), the report embeds it;
otherwise the timeline is redrawn here with `lab.checker.html.render_partition_svg`, and if
that fails (the checker's API moved on) the report says so and keeps the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.report.run import RunData


@dataclass(frozen=True, slots=True)
class OpRow:
    """One operation of a counterexample, as the report's table shows it."""

    id: int
    process: str
    description: str
    call_s: float | None
    ret_s: float | None
    call_ns: int | None
    ret_ns: int | None
    role: str
    """``culprit``, ``window``, ``prefix`` or ``other``."""
    prefix_position: int | None


@dataclass
class Counterexample:
    """One invalid partition (one key) of one checker."""

    checker: str
    key: str
    message: str
    ops: int
    rows: list[OpRow]
    window_minimal: bool
    state_after_prefix: str | None
    lost: list[Any] = field(default_factory=list)
    unexpected: list[Any] = field(default_factory=list)
    timeline_svg: str | None = None
    timeline_error: str | None = None

    @property
    def culprit(self) -> OpRow | None:
        """The operation that cannot be placed, if the checker named one."""
        return next((r for r in self.rows if r.role == "culprit"), None)

    @property
    def culprit_call_s(self) -> float | None:
        return None if self.culprit is None else self.culprit.call_s

    @property
    def window_rows(self) -> list[OpRow]:
        """The smallest failing window (culprit included): what to read first."""
        return [r for r in self.rows if r.role in ("culprit", "window")]

    @property
    def context_rows(self) -> list[OpRow]:
        """The rest the checker kept: the end of the linearizable prefix."""
        return [r for r in self.rows if r.role not in ("culprit", "window")]


def counterexamples(run: RunData, *, draw: bool = True) -> list[Counterexample]:
    """Every invalid partition of every checker, in ``results.json`` order."""
    out = []
    for name, data in (run.results.get("checkers") or {}).items():
        if not isinstance(data, dict):
            continue
        for part in data.get("invalid") or []:
            cx = _counterexample(name, part, run)
            if draw:
                cx.timeline_svg, cx.timeline_error = _timeline(part)
            out.append(cx)
    return out


def _counterexample(checker: str, part: dict[str, Any], run: RunData) -> Counterexample:
    culprit = part.get("culprit")
    window = set(part.get("window") or [])
    prefix = {op_id: i + 1 for i, op_id in enumerate(part.get("prefix") or [])}
    rows = []
    for op in sorted(part.get("operations") or [], key=lambda o: (o.get("call") or 0, o["id"])):
        op_id = op["id"]
        role = (
            "culprit"
            if op_id == culprit
            else "window"
            if op_id in window
            else "prefix"
            if op_id in prefix
            else "other"
        )
        call, ret = op.get("call"), op.get("ret")
        rows.append(
            OpRow(
                id=op_id,
                process=str(op.get("process")),
                description=op.get("description") or f"{op.get('f')}({op.get('input')!r})",
                call_s=None if call is None else run.seconds(call),
                ret_s=None if ret is None or op.get("unknown") else run.seconds(ret),
                call_ns=call,
                ret_ns=None if op.get("unknown") else ret,
                role=role,
                prefix_position=prefix.get(op_id),
            )
        )
    return Counterexample(
        checker=checker,
        key="(none)" if part.get("key") is None else str(part.get("key")),
        message=str(part.get("message") or ""),
        ops=int(part.get("ops") or 0),
        rows=rows,
        window_minimal=bool(part.get("window_minimal")),
        state_after_prefix=part.get("state_after_prefix"),
        lost=list(part.get("lost") or []),
        unexpected=list(part.get("unexpected") or []),
    )


def _timeline(part: dict[str, Any]) -> tuple[str | None, str | None]:
    """The checker's SVG timeline for a partition, rebuilt from its JSON: (svg, error)."""
    try:
        from lab.checker.html import render_partition_svg
        from lab.checker.result import Counterexample as CheckerCx
        from lab.checker.result import PartitionResult, Verdict
        from lab.history.op import UNKNOWN, Operation

        ops = []
        descriptions = {}
        for op in part.get("operations") or []:
            unknown = bool(op.get("unknown"))
            ops.append(
                Operation(
                    id=op["id"],
                    process=op["process"],
                    f=op["f"],
                    key=op.get("key"),
                    input=op.get("input"),
                    output=UNKNOWN if unknown else op.get("output"),
                    call=op["call"],
                    ret=None if unknown else op.get("ret"),
                    invoke_index=op.get("invoke_index", -1),
                    complete_index=op.get("complete_index"),
                )
            )
            descriptions[op["id"]] = op.get("description") or op["f"]
        cx = CheckerCx(
            culprit=part.get("culprit"),
            prefix=tuple(part.get("prefix") or ()),
            state_after_prefix=part.get("state_after_prefix"),
            window=tuple(part.get("window") or ()),
            window_minimal=bool(part.get("window_minimal")),
            message=str(part.get("message") or ""),
        )
        result = PartitionResult(
            key=part.get("key"),
            verdict=Verdict.INVALID,
            ops=int(part.get("ops") or len(ops)),
            elapsed=float(part.get("elapsed_s") or 0.0),
            counterexample=cx,
            operations=tuple(ops),
            descriptions=descriptions,
        )
        return render_partition_svg(result), None
    except Exception as e:  # the checker is evolving: a missing timeline must not sink a report
        return None, f"{type(e).__name__}: {e}"
