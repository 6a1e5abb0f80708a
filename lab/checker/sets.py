"""`SetModel`: a grow-only set, a real `Model` that `check` decides by Jepsen's set rule.

Clients ``add`` elements and ``read`` the whole set (ok value = list of elements). As a
sequential specification (`step`) the state is the frozenset of elements added, and a read
must return exactly it; a search over that is exponential in the concurrent adds, so
`decide` answers each partition by Jepsen's rule instead. The final
read (the ok read that completed last) must contain every add acknowledged before that read
was invoked (else the element is *lost*) and nothing that was never attempted, or whose add
definitely failed (else it is *unexpected*). Adds with an unknown outcome, and adds still
running when the final read began, may or may not be present. Intermediate reads are not
checked: this is the rule Jepsen's ``set`` checker applies, cheap enough for any history size.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lab.checker.model import Model, ModelError
from lab.checker.registers import freeze
from lab.checker.result import Counterexample, PartitionResult, Verdict
from lab.history.op import UNKNOWN, Operation
from lab.history.pairing import normalize_f


@dataclass(frozen=True)
class SetOutcome:
    """What the set rule found in one partition; ``final_read`` is None when there is none."""

    final_read: Operation | None
    lost: tuple[Any, ...]
    unexpected: tuple[Any, ...]
    acknowledged: int
    uncertain: int

    @property
    def valid(self) -> bool:
        return not self.lost and not self.unexpected


class SetModel(Model[frozenset[Any]]):
    """A grow-only set per key; `decide` applies Jepsen's set rule (`check_set`)."""

    name: ClassVar[str] = "set"

    def init(self) -> frozenset[Any]:
        return frozenset()

    def input(self, op: Operation) -> Any:
        kind = normalize_f(op.f)
        if kind not in ("add", "read"):
            raise ModelError(f"the set model has no operation {op.f!r} (op {op.id})")
        return (kind, freeze(op.input))

    def output(self, op: Operation) -> Any:
        if op.output is UNKNOWN or normalize_f(op.f) != "read":
            return op.output
        return frozenset(freeze(v) for v in (op.output or ()))

    def step(self, state: frozenset[Any], input: Any, output: Any) -> tuple[bool, frozenset[Any]]:
        kind, value = input
        if kind == "add":
            return True, state | {value}
        return output is UNKNOWN or output == state, state

    def decide(self, key: Hashable, ops: Sequence[Operation]) -> PartitionResult:
        """Jepsen's set rule on one partition (see the module docstring)."""
        started = time.perf_counter()
        outcome = self.check_set(ops)
        elapsed = time.perf_counter() - started
        if outcome.final_read is None:
            return PartitionResult(
                key, Verdict.UNKNOWN, len(ops), elapsed,
                "no successful read of the set: nothing to check the adds against",
            )  # fmt: skip
        if outcome.valid:
            return PartitionResult(key, Verdict.VALID, len(ops), elapsed)
        return self._invalid(key, ops, outcome, elapsed)

    def __repr__(self) -> str:
        return "SetModel()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def describe(self, op: Operation) -> str:
        kind = normalize_f(op.f)
        if kind == "read":
            if op.output is UNKNOWN:
                return "read() -> ?"
            return f"read() -> {_show_set(op.output)}"
        return f"{kind}({op.input!r})" + (" -> ?" if op.output is UNKNOWN else "")

    def check_set(self, ops: Sequence[Operation]) -> SetOutcome:
        """Apply the set rule to one partition (failed adds were dropped when pairing)."""
        for op in ops:
            self.input(op)  # raises ModelError for anything but add and read
        reads = [op for op in ops if normalize_f(op.f) == "read" and op.ret is not None]
        adds = [op for op in ops if normalize_f(op.f) == "add"]
        if not reads:
            return SetOutcome(None, (), (), 0, len(adds))
        final = max(reads, key=lambda op: (op.ret, op.call))
        seen = {freeze(v) for v in (final.output or ())}
        attempted = {freeze(op.input) for op in adds}
        must = [op for op in adds if op.ret is not None and op.ret < final.call]
        lost = sorted({freeze(op.input) for op in must} - seen, key=repr)
        unexpected = sorted(seen - attempted, key=repr)
        return SetOutcome(
            final_read=final,
            lost=tuple(lost),
            unexpected=tuple(unexpected),
            acknowledged=len(must),
            uncertain=len(adds) - len(must),
        )

    def _invalid(
        self, key: Hashable, ops: Sequence[Operation], outcome: SetOutcome, elapsed: float
    ) -> PartitionResult:
        assert outcome.final_read is not None
        final = outcome.final_read
        parts = []
        if outcome.lost:
            parts.append(f"{len(outcome.lost)} acknowledged add(s) lost: {_few(outcome.lost)}")
        if outcome.unexpected:
            parts.append(
                f"{len(outcome.unexpected)} unexpected element(s): {_few(outcome.unexpected)}"
            )
        message = (
            f"The final read (op #{final.id}, process {final.process}) "
            + " and ".join(parts)
            + f" ({outcome.acknowledged} adds acknowledged before it, "
            + f"{outcome.uncertain} uncertain)."
        )
        lost = set(outcome.lost)
        window = tuple(
            op.id for op in ops if op.id == final.id or (op.f == "add" and op.input in lost)
        )
        cx = Counterexample(
            culprit=final.id,
            window=window,
            window_minimal=True,
            lost=outcome.lost,
            unexpected=outcome.unexpected,
            message=message,
        )
        descriptions = {op.id: self.describe(op) for op in ops}
        return PartitionResult(
            key, Verdict.INVALID, len(ops), elapsed,
            counterexample=cx, operations=tuple(ops), descriptions=descriptions,
        )  # fmt: skip


def _few(values: Sequence[Any], limit: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _show_set(value: Any) -> str:
    if isinstance(value, list | tuple):
        shown = ", ".join(repr(v) for v in list(value)[:8])
        more = f", ... ({len(value)} in all)" if len(value) > 8 else ""
        return "{" + shown + more + "}"
    return repr(value)
