"""Build small histories by hand: ``ops(("w", 1, 0, 10), ("r", 1, 5, 8), ...)``."""

from __future__ import annotations

from typing import Any

from lab.history.op import COMPARE_FAILED, UNKNOWN, Operation

_F = {
    "w": "write",
    "r": "read",
    "c": "cas",
    "cf": "cas",
    "d": "delete",
    "a": "append",
    "add": "add",
}


def op(
    i: int, f: str, value: Any, call: int, ret: int | None, *, key: Any = None, process: int = -1
) -> Operation:
    """One operation: reads carry their output in ``value``; ``ret`` None = unknown; ``cf``
    is a cas whose compare failed."""
    kind = _F.get(f, f)  # "add" and any other f are themselves
    reads = kind == "read"
    known = COMPARE_FAILED if f == "cf" else (value if reads else None)
    return Operation(
        id=i,
        process=process if process >= 0 else i,
        f=kind,
        key=key,
        input=None if reads else value,
        output=UNKNOWN if ret is None else known,
        call=call,
        ret=ret,
    )


def ops(*specs: tuple[Any, ...], key: Any = None) -> list[Operation]:
    """Operations from (f, value, call, ret) tuples, numbered in order."""
    return [op(i, *spec, key=key) for i, spec in enumerate(specs)]
