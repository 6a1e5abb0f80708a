"""`SetModel`: a grow-only set checked by Jepsen's simple set rule, not by search.

Clients ``add`` elements and ``read`` the whole set (ok value = list of elements). The final
read (the ok read that completed last) must contain every add acknowledged before that read
was invoked (else the element is *lost*) and nothing that was never attempted, or whose add
definitely failed (else it is *unexpected*). Adds with an unknown outcome, and adds still
running when the final read began, may or may not be present. Intermediate reads are not
checked: this is the rule Jepsen's ``set`` checker applies, cheap enough for any history size.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lab.checker.registers import freeze
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


class SetModel:
    """Jepsen's set checker as a model: `partition` by key, `check_set` per partition."""

    name: ClassVar[str] = "set"

    def __repr__(self) -> str:
        return "SetModel()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def partition(self, ops: Sequence[Operation]) -> dict[Hashable, list[Operation]]:
        parts: dict[Hashable, list[Operation]] = {}
        for op in ops:
            parts.setdefault(op.key, []).append(op)
        return parts

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
            if normalize_f(op.f) not in ("add", "read"):
                raise ValueError(f"the set model has no operation {op.f!r} (op {op.id})")
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


def _show_set(value: Any) -> str:
    if isinstance(value, list | tuple):
        shown = ", ".join(repr(v) for v in list(value)[:8])
        more = f", ... ({len(value)} in all)" if len(value) > 8 else ""
        return "{" + shown + more + "}"
    return repr(value)
