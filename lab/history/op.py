"""The lab's history model: one `Op` per recorded event, and `Operation`, an invoke paired with
its completion.

An `Op` is exactly one line of the lab's JSONL (or one Jepsen event): a client *invokes* an
operation, and later the same process *completes* it with ``ok`` (it happened, the value is its
result), ``fail`` (it definitely did not happen) or ``info`` (unknown: it may or may not have
happened, as after a timeout). Checkers never see ``Op`` directly: `lab.history.pairing.pair`
turns events into `Operation`s, which is what a linearizability model steps through.

A cas whose compare failed *did* happen: it observed that the register did not hold the
expected value at some point of its interval. It completes ``ok`` with the value
`COMPARE_FAILED` (``false``), so it constrains the check as Porcupine's ``ok=false`` output
does, and `outcome` counts it apart from ``ok`` and ``fail``. Older histories recorded it as
``fail``; those still read as before (the cas is dropped: it checks less, never wrongly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

OpType: TypeAlias = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: Final = ("invoke", "ok", "fail", "info")
Outcome: TypeAlias = Literal["ok", "compare_failed", "fail", "info"]
OUTCOMES: Final = ("ok", "compare_failed", "fail", "info")
"""How a completion ended, as runs count them: ``compare_failed`` is an ``ok`` cas whose
compare failed (see the module docstring), counted apart from both ``ok`` and ``fail``."""
COMPARE_FAILED: Final = False
"""The value of the ``ok`` completion of a cas whose compare failed."""
Process: TypeAlias = int | str
NEMESIS: Final = "nemesis"

# `f` synonyms accepted everywhere: Porcupine and some clients say get/put.
F_SYNONYMS: Final = {"get": "read", "put": "write"}


@dataclass(frozen=True, slots=True)
class Op:
    """One event of a history, as recorded (no normalisation beyond types).

    ``time`` is nanoseconds since the start of the run, or None when the source format has no
    clock (then the order of events in the file is the real-time order). ``key`` is None for a
    single-register history. ``value`` is JSON-shaped: None, bool, int, float, str or a list.
    ``revision``, on an ``ok`` completion, is where the system says the operation took effect
    in its own order: the Raft index that committed a write, the applied index a read was
    served at (None when the system gives none). ``index`` is only the event's position.
    """

    index: int
    process: Process
    type: OpType
    f: str
    value: Any = None
    time: int | None = None
    key: Any = None
    node: str | None = None
    error: Any = None
    revision: int | None = None

    def __post_init__(self) -> None:
        if self.type not in OP_TYPES:
            raise ValueError(f"type must be one of {', '.join(OP_TYPES)}, not {self.type!r}")

    @property
    def is_nemesis(self) -> bool:
        """Fault markers: carried along, ignored by checkers."""
        return self.process == NEMESIS or isinstance(self.process, str)

    @property
    def outcome(self) -> Outcome:
        """A completion's outcome (`OUTCOMES`); an invoke has none (ValueError)."""
        if self.type == "invoke":
            raise ValueError(f"event {self.index} is an invoke: it has no outcome yet")
        if self.type == "ok" and is_compare_failure(self.f, self.value):
            return "compare_failed"
        return self.type


def is_compare_failure(f: str, value: Any) -> bool:
    """Is an ok ``f`` whose result is ``value`` a cas whose compare failed?"""
    return value is COMPARE_FAILED and F_SYNONYMS.get(f, f) == "cas"


class _Unknown:
    """The output of an operation whose outcome is unknown (``info``, or still open at the end)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()
"""Sentinel output of an operation that may or may not have happened (None means "absent")."""


@dataclass(frozen=True, slots=True)
class Operation:
    """An invoke paired with its completion: what a linearizability model steps through.

    ``call`` and ``ret`` order operations in real time: ``ret`` is None when the outcome is
    unknown (the operation may take effect at any point after ``call``, or never), and then
    ``output`` is `UNKNOWN`. Failed operations never become an `Operation`: they did not happen.
    ``id`` is the position in the paired history; ``invoke_index``/``complete_index`` point back
    at the events (for error messages and reports). ``revision`` is the ok completion's
    (`Op.revision`): `lab.checker.revisions` orders operations by it.
    """

    id: int
    process: Process
    f: str
    key: Any
    input: Any
    output: Any
    call: int
    ret: int | None
    invoke_index: int = -1
    complete_index: int | None = None
    node: str | None = field(default=None, compare=False)
    error: Any = field(default=None, compare=False)
    revision: int | None = None

    @property
    def unknown(self) -> bool:
        """True when the outcome is unknown (info, or never completed)."""
        return self.ret is None

    @property
    def compare_failed(self) -> bool:
        """A cas that happened and found the register not holding its expected value."""
        return is_compare_failure(self.f, self.output)
