"""What a check returns: a `Result` with one `PartitionResult` per key.

The verdict is three-valued, as in Porcupine and Jepsen: ``valid``, ``invalid``, or ``unknown``
when the time budget ran out or the checker crashed (a crash is never a pass). The overall
verdict is invalid if any partition is invalid, else unknown if any is unknown, else valid.

An invalid partition carries a `Counterexample`: the operation that could not be placed, the
longest linearizable prefix the search found (drawn numbered in the HTML timeline), and the
smallest window of operations that still cannot be linearized on its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lab.history.op import UNKNOWN, Operation


class Verdict(StrEnum):
    """``valid`` | ``invalid`` | ``unknown`` (budget exhausted or checker crashed)."""

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """Invalid beats unknown beats valid."""
    if Verdict.INVALID in verdicts:
        return Verdict.INVALID
    if Verdict.UNKNOWN in verdicts:
        return Verdict.UNKNOWN
    return Verdict.VALID


@dataclass(frozen=True)
class Counterexample:
    """Why a partition is not linearizable.

    ``culprit``: id of the operation that could not be placed (for the set model, the final
    read). ``prefix``: ids of the longest linearizable prefix found, in linearization order,
    and ``state_after_prefix`` the model state it leaves. ``window``: ids of the smallest
    window found that cannot be linearized by itself (from any state when it starts after the
    first operation); ``window_minimal`` is False when the budget ran out while shrinking it.
    ``lost``/``unexpected``: the set model's findings. ``message``: one readable paragraph.
    """

    culprit: int | None
    prefix: tuple[int, ...] = ()
    state_after_prefix: str | None = None
    window: tuple[int, ...] = ()
    window_minimal: bool = False
    lost: tuple[Any, ...] = ()
    unexpected: tuple[Any, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class PartitionResult:
    """The verdict for one key, with the partition's operations kept when it is invalid."""

    key: Any
    verdict: Verdict
    ops: int
    elapsed: float
    reason: str = ""
    counterexample: Counterexample | None = None
    operations: tuple[Operation, ...] = ()
    descriptions: dict[int, str] = field(default_factory=dict)
    steps: int = 0


@dataclass(frozen=True)
class Result:
    """The outcome of `lab.checker.check`: overall verdict, per-partition details."""

    verdict: Verdict
    model: str
    partitions: tuple[PartitionResult, ...]
    elapsed: float
    ops: int
    reason: str = ""
    source: str | None = None

    @property
    def invalid(self) -> list[PartitionResult]:
        """The invalid partitions, in the order they were checked."""
        return [p for p in self.partitions if p.verdict is Verdict.INVALID]

    @property
    def unknown(self) -> list[PartitionResult]:
        """The partitions without a verdict (timeout, crash, or skipped after a failure)."""
        return [p for p in self.partitions if p.verdict is Verdict.UNKNOWN]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``results.json`` and ``check --json`` hold)."""
        return {
            "verdict": str(self.verdict),
            "model": self.model,
            "source": self.source,
            "ops": self.ops,
            "elapsed_s": round(self.elapsed, 6),
            "reason": self.reason,
            "partitions": {
                "total": len(self.partitions),
                "valid": sum(p.verdict is Verdict.VALID for p in self.partitions),
                "invalid": len(self.invalid),
                "unknown": len(self.unknown),
            },
            "invalid": [_partition_json(p) for p in self.invalid],
            "unknown": [
                {"key": _jsonable(p.key), "ops": p.ops, "reason": p.reason} for p in self.unknown
            ],
        }

    def dumps(self) -> str:
        """`to_json` as indented text."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False)

    def summary(self) -> str:
        """A readable report: the verdict, then each counterexample (what the CLI prints)."""
        counts = self.to_json()["partitions"]
        skipped = sum(1 for p in self.unknown if p.reason.startswith("not checked"))
        unknown = f"{counts['unknown'] - skipped} unknown"
        if skipped:
            unknown += f", {skipped} not checked (stopped at the first invalid one)"
        lines = [
            f"{str(self.verdict).upper()}: {self.ops} operations, {counts['total']} "
            f"partition(s) ({counts['valid']} valid, {counts['invalid']} invalid, "
            f"{unknown}), model {self.model}, {self.elapsed:.3f}s"
        ]
        if self.reason:
            lines.append(f"  {self.reason}")
        for p in self.invalid:
            lines.append("")
            lines.append(_describe_partition(p))
        shown = [p for p in self.unknown if not p.reason.startswith("not checked")][:5]
        for p in shown:
            lines.append(f"  key {_show_key(p.key)}: unknown ({p.reason})")
        return "\n".join(lines)


def _show_key(key: Any) -> str:
    return "(none)" if key is None else repr(key)


def _describe_partition(p: PartitionResult) -> str:
    cx = p.counterexample
    head = f"key {_show_key(p.key)}: NOT linearizable ({p.ops} operations)"
    if cx is None:
        return head
    out = [head, "  " + cx.message]
    by_id = {op.id: op for op in p.operations}
    if cx.window:
        label = "smallest window" if cx.window_minimal else "window (not fully shrunk)"
        out.append(f"  {label} ({len(cx.window)} operations):")
        for i in cx.window:
            op = by_id.get(i)
            if op is None:
                continue
            mark = "  <-- cannot be placed" if i == cx.culprit else ""
            out.append(f"    {_op_line(op, p.descriptions)}{mark}")
    return "\n".join(out)


def _op_line(op: Operation, descriptions: dict[int, str]) -> str:
    ret = "never (unknown)" if op.ret is None else str(op.ret)
    desc = descriptions.get(op.id, f"{op.f}({op.input!r})")
    return f"#{op.id} p{op.process} {desc}  [{op.call} .. {ret}]"


def _partition_json(p: PartitionResult) -> dict[str, Any]:
    cx = p.counterexample
    ids: set[int] = set()
    if cx is not None:
        ids.update(cx.window, cx.prefix[-20:])
        if cx.culprit is not None:
            ids.add(cx.culprit)
    return {
        "key": _jsonable(p.key),
        "ops": p.ops,
        "elapsed_s": round(p.elapsed, 6),
        "message": cx.message if cx else p.reason,
        "culprit": cx.culprit if cx else None,
        "prefix": list(cx.prefix) if cx else [],
        "state_after_prefix": cx.state_after_prefix if cx else None,
        "window": list(cx.window) if cx else [],
        "window_minimal": cx.window_minimal if cx else False,
        "lost": [_jsonable(v) for v in cx.lost] if cx else [],
        "unexpected": [_jsonable(v) for v in cx.unexpected] if cx else [],
        "operations": [
            op_json(op, p.descriptions.get(op.id, "")) for op in p.operations if op.id in ids
        ],
    }


def op_json(op: Operation, description: str = "") -> dict[str, Any]:
    """One paired operation as JSON (``output`` null and ``unknown`` true when unknown)."""
    return {
        "id": op.id,
        "process": op.process,
        "f": op.f,
        "key": _jsonable(op.key),
        "input": _jsonable(op.input),
        "output": None if op.output is UNKNOWN else _jsonable(op.output),
        "unknown": op.output is UNKNOWN,
        "call": op.call,
        "ret": op.ret,
        "invoke_index": op.invoke_index,
        "complete_index": op.complete_index,
        "description": description,
    }


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return repr(v)
