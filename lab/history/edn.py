"""Jepsen and Knossos EDN histories: read any layout, write one map per line (or others).

A history is a sequence of event maps (``{:process 0, :type :invoke, :f :read, :value nil}``)
laid out as one map per line (the lab's export, Jepsen's ``history.edn``), one vector or list of
maps pretty-printed over many lines (Knossos's test data, ``pprint``), or records
(``#jepsen.history.Op{...}``), with comments and nested values anywhere. EDN syntax lives in
`lab.history.edn_syntax`; this module turns forms into `Op` events and back. Every error is a
`HistoryFormatError` naming file, line and column.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final, Literal

from lab.history.edn_syntax import (
    EdnSyntaxError,
    Keyword,
    Symbol,
    dumps,
    dumps_pretty,
    iter_forms,
    iter_items,
    loads,
    read_flat_map,
)
from lab.history.errors import HistoryFormatError
from lab.history.history import History
from lab.history.op import NEMESIS, OP_TYPES, Op

__all__ = [
    "EdnSyntaxError", "Keyword", "Symbol", "dumps", "loads", "op_from_edn_map", "op_to_edn",
    "parse_edn_history", "read_edn", "to_edn",
]  # fmt: skip

Layout = Literal["lines", "vector", "tagged"]
LAYOUTS: Final[tuple[str, ...]] = ("lines", "vector", "tagged")
_KEYWORD = re.compile(r"[A-Za-z*+!_?<>=.\-][\w*+!_?<>=.\-/#']*")


def _name(value: str) -> str:
    """A keyword when the name allows it, else a string (``:f "odd name"``)."""
    return ":" + value if _KEYWORD.fullmatch(value) else dumps(value)


# ---------------------------------------------------------------------------------------------
# Histories


def op_to_edn(op: Op, *, pretty: bool = False) -> str:
    """One event as a Jepsen EDN map; absent optional fields are left out, ``:value`` never.
    ``pretty`` puts each field on a line of its own, values spread over lines too."""
    show = dumps_pretty if pretty else dumps
    parts = [f":index {op.index}"]
    if op.time is not None:
        parts.append(f":time {op.time}")
    process = _name(op.process) if isinstance(op.process, str) else str(op.process)
    parts += [f":process {process}", f":type :{op.type}", f":f {_name(op.f)}"]
    if op.key is not None:
        parts.append(f":key {show(op.key)}")
    parts.append(f":value {show(op.value)}")
    if op.node is not None:
        parts.append(f":node {dumps(op.node)}")
    if op.error is not None:
        parts.append(f":error {show(op.error)}")
    if op.revision is not None:
        parts.append(f":revision {op.revision}")
    return "{" + (",\n  " if pretty else ", ").join(parts) + "}"


def to_edn(history: History | Iterable[Op], layout: Layout = "lines") -> str:
    """A whole history (or its events) in Jepsen's EDN form. ``lines`` (the default, what
    ``aspen-lab export --edn`` writes): one map per line. ``vector``: one vector of maps, each
    pretty-printed over several lines, as Knossos's files are. ``tagged``: one
    ``#jepsen.history.Op{...}`` record per line, as Jepsen's history.edn is."""
    events = history.events if isinstance(history, History) else history
    if layout == "lines":
        return "".join(op_to_edn(op) + "\n" for op in events)
    if layout == "tagged":
        return "".join("#jepsen.history.Op" + op_to_edn(op) + "\n" for op in events)
    if layout == "vector":
        body = "\n ".join(op_to_edn(op, pretty=True).replace("\n", "\n ") for op in events)
        return "[" + body + "]\n"
    raise ValueError(f"unknown EDN layout {layout!r}; expected one of {', '.join(LAYOUTS)}")


def op_from_edn_map(m: Any, *, position: int) -> Op:
    """Interpret one parsed map as an event. Raises ValueError naming the offending field."""
    if not isinstance(m, dict):
        raise ValueError(f"expected a map, got {type(m).__name__}")
    type_ = m.get("type")
    if type_ not in OP_TYPES:
        raise ValueError(f":type must be one of {', '.join(OP_TYPES)}, not {type_!r}")
    process = m.get("process")
    if isinstance(process, bool) or not isinstance(process, int | str):
        raise ValueError(f":process must be an integer or a keyword, not {process!r}")
    if isinstance(process, str):
        process = NEMESIS if process == NEMESIS else str(process)
    f = m.get("f")
    if not isinstance(f, str):
        if process == NEMESIS and f is None:
            f = "nemesis"
        else:
            raise ValueError(f":f must be a keyword, not {f!r}")
    index = m.get("index", position)
    time = m.get("time")
    revision = m.get("revision")
    for name, v in (("index", index), ("time", time), ("revision", revision)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise ValueError(f":{name} must be an integer, not {v!r}")
    node = m.get("node")
    return Op(
        index=index,
        process=process,
        type=type_,
        f=str(f),
        value=m.get("value"),
        time=time,
        key=m.get("key"),
        node=str(node) if node is not None else None,
        error=m.get("error"),
        revision=revision,
    )


def _fast_map(line: str) -> dict[Any, Any] | None:
    """`read_flat_map` on a whole line: None unless the line is exactly one flat map."""
    if not line.startswith("{"):
        return None
    got = read_flat_map(line, 0)
    if got is None or got[1] != len(line):
        return None
    return got[0]


def parse_edn_history(text: str, *, source: str = "<string>", format: str = "edn") -> History:
    """Parse a Jepsen/Knossos EDN history in any layout (see the module docstring).

    The top level is either one vector or list of event maps, or a sequence of event maps.
    Files of flat maps one per line (what most tools write) take a fast path, line by line.
    """
    events: list[Op] = []
    lines: list[int] = []
    try:
        for lineno, m in _event_forms(text):
            try:
                events.append(op_from_edn_map(m, position=len(events)))
            except (ValueError, TypeError) as exc:
                raise HistoryFormatError(str(exc), source=source, line=lineno) from None
            lines.append(lineno)
    except EdnSyntaxError as exc:
        raise HistoryFormatError(
            exc.reason, source=source, line=exc.line, column=exc.column
        ) from None
    return History(events=events, source=source, format=format, lines=lines)


def _event_forms(text: str) -> Iterator[tuple[int, Any]]:
    """(line, form) for each event form of a history, whatever its layout."""
    flat = _flat_lines(text)
    if flat is not None:
        yield from flat
        return
    forms = iter_forms(text)
    first = next(forms, None)
    if first is None:
        return
    pos, form = first
    if isinstance(form, list) and text[pos] in "[(":
        if next(forms, None) is not None:
            raise EdnSyntaxError("unexpected text after the history's top-level collection",
                                 text, pos)  # fmt: skip
        yield from _numbered(text, iter_items(text, pos))
        return
    yield from _numbered(text, itertools.chain([first], forms))


def _numbered(text: str, forms: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """(offset, form) pairs in offset order to (line, form), counting newlines once."""
    line, seen = 1, 0
    for at, form in forms:
        line += text.count("\n", seen, at)
        seen = at
        yield line, form


def _flat_lines(text: str) -> list[tuple[int, Any]] | None:
    """Every event a flat map alone on its line (blank and ``;`` lines aside): (line, map)
    for each, else None."""
    out: list[tuple[int, Any]] = []
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        m = _fast_map(line)
        if m is None:
            return None
        out.append((lineno, m))
    return out


def read_edn(path: str | Path) -> History:
    """Read a Jepsen EDN history file."""
    return parse_edn_history(Path(path).read_text(encoding="utf-8"), source=str(path))
