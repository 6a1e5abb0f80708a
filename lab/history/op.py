"""The lab's history model: one `Op` per recorded event, and `Operation`, an invoke paired with
its completion.

An `Op` is exactly one line of the lab's JSONL (or one Jepsen event): a client *invokes* an
operation, and later the same process *completes* it with ``ok`` (it happened, the value is its
result), ``fail`` (it definitely did not happen) or ``info`` (unknown: it may or may not have
happened, as after a timeout). Checkers never see ``Op`` directly: `lab.history.pairing.pair`
turns events into `Operation`s, which is what a linearizability model steps through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

OpType: TypeAlias = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: Final = ("invoke", "ok", "fail", "info")
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

    def __post_init__(self) -> None:
        if self.type not in OP_TYPES:
            raise ValueError(f"type must be one of {', '.join(OP_TYPES)}, not {self.type!r}")

    @property
    def is_nemesis(self) -> bool:
        """Fault markers: carried along, ignored by checkers."""
        return self.process == NEMESIS or isinstance(self.process, str)


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
    at the events (for error messages and reports).
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

    @property
    def unknown(self) -> bool:
        """True when the outcome is unknown (info, or never completed)."""
        return self.ret is None
