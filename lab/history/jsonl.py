"""The lab's JSONL history: one JSON object per line, written by one appender per run.

A line looks like::

    {"index": 0, "time": 1234, "process": 0, "type": "invoke", "f": "write", "key": "k1",
     "value": 3, "node": "n1", "error": null}

and an ``ok`` completion may add ``"revision": 17`` (`Op.revision`), written only when known.

`HistoryWriter` flushes after every line, so a crashed run loses at most the line being
written; `read_jsonl` therefore forgives a torn *last* line (no trailing newline) and records
that it did in ``History.notes``. Any other unparseable line is a `HistoryFormatError` naming
file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

from lab.history.errors import HistoryFormatError
from lab.history.history import History
from lab.history.op import OP_TYPES, Op

_FIELDS = ("index", "time", "process", "type", "f", "key", "value", "node", "error")
_OPTIONAL = ("revision",)


def op_to_dict(op: Op) -> dict[str, Any]:
    """The JSON object for one event (field order as in the format's documentation; optional
    fields only when set)."""
    out = {name: getattr(op, name) for name in _FIELDS}
    if op.revision is not None:
        out["revision"] = op.revision
    return out


_FIELD_SET = frozenset(_FIELDS + _OPTIONAL)
_TYPE_SET = frozenset(OP_TYPES)
_raw_decode = json.JSONDecoder().raw_decode


def op_from_dict(obj: Any, *, position: int) -> Op:
    """Validate one decoded line; ``position`` is the default index. Raises ValueError."""
    if type(obj) is not dict:
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if not obj.keys() <= _FIELD_SET:
        raise ValueError(f"unknown field(s): {', '.join(sorted(set(obj) - _FIELD_SET))}")
    get = obj.get
    type_ = get("type")
    if type_ not in _TYPE_SET:
        raise ValueError(f'"type" must be one of {", ".join(OP_TYPES)}, not {type_!r}')
    process = get("process")
    tp = type(process)
    if tp is not int and tp is not str:  # (bool is not int here, as intended)
        raise ValueError(f'"process" must be an integer or a name, not {process!r}')
    f = get("f")
    if type(f) is not str:
        raise ValueError(f'"f" must be a string, not {f!r}')
    index = get("index")
    time = get("time")
    revision = get("revision")
    for name, v in (("index", index), ("time", time), ("revision", revision)):
        if v is not None and type(v) is not int:
            raise ValueError(f'"{name}" must be an integer, not {v!r}')
    node = get("node")
    if node is not None and type(node) is not str:
        raise ValueError(f'"node" must be a string, not {node!r}')
    return Op(
        position if index is None else index,
        cast("int | str", process),  # checked above (type() checks do not narrow for mypy)
        type_,
        f,
        get("value"),
        time,
        get("key"),
        node,
        get("error"),
        revision,
    )


def _decode(line: str) -> Any:
    """json.loads without its wrappers (one line is already stripped of whitespace)."""
    obj, end = _raw_decode(line)
    if end != len(line):
        raise ValueError(f"extra data after the JSON value at column {end + 1}")
    return obj


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Op]]:
    """(line number, event) for each non-blank line; a torn final line is skipped silently."""
    with open(path, encoding="utf-8") as fh:
        yield from _iter_lines(fh, str(path), notes=None)


def read_jsonl(path: str | Path) -> History:
    """Read a whole JSONL history (see the module docstring for the torn-line rule)."""
    notes: list[str] = []
    events: list[Op] = []
    lines: list[int] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, op in _iter_lines(fh, str(path), notes=notes):
            events.append(op)
            lines.append(lineno)
    return History(events=events, source=str(path), format="jsonl", lines=lines, notes=notes)


def parse_jsonl(text: str, *, source: str = "<string>") -> History:
    """Like `read_jsonl`, from a string."""
    notes: list[str] = []
    pairs = list(_iter_lines(_keep_ends(text), source, notes=notes))
    return History(
        events=[op for _, op in pairs],
        source=source,
        format="jsonl",
        lines=[n for n, _ in pairs],
        notes=notes,
    )


def _iter_lines(fh: Any, source: str, *, notes: list[str] | None) -> Iterator[tuple[int, Op]]:
    position = 0
    for lineno, raw in enumerate(fh, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            op = op_from_dict(_decode(line), position=position)
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            if not raw.endswith("\n"):  # only a file's last line can lack one: torn
                if notes is not None:
                    notes.append(f"{source}:{lineno}: torn last line ignored ({exc})")
                return
            raise HistoryFormatError(str(exc), source=source, line=lineno) from None
        position += 1
        yield lineno, op


def _keep_ends(text: str) -> list[str]:
    """Lines split on "\\n" only (str.splitlines also breaks on \\x85 and friends)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class HistoryWriter:
    """The single appender of a run's history: one line per event, flushed as it is written.

    Flushing per line bounds what a crash can lose to the line being written (which
    `read_jsonl` then forgives). ``fsync=True`` also survives a machine crash, at a cost per
    line. Not thread-safe: a run has exactly one writer, fed from one task or queue.
    """

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fh: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._fsync = fsync
        self._next_index = self._count_existing()

    def _count_existing(self) -> int:
        if self.path.stat().st_size == 0:
            return 0
        with open(self.path, encoding="utf-8") as fh:
            return sum(1 for line in fh if line.strip())

    def append(self, op: Op) -> None:
        """Write one event and flush it to the OS."""
        self._fh.write(json.dumps(op_to_dict(op), separators=(", ", ": ")) + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())
        self._next_index = max(self._next_index, op.index + 1)

    def record(self, **fields: Any) -> Op:
        """Build an event with the next ``index`` (unless given) and append it."""
        fields.setdefault("index", self._next_index)
        op = Op(**fields)
        self.append(op)
        return op

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
