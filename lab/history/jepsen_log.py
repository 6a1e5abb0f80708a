"""Jepsen's logged histories, as ``jepsen.util`` prints them while a test runs::

    INFO  jepsen.util - 3	:invoke	:cas	[1 4]
    INFO  jepsen.util - 3	:ok	:read	nil
    INFO  jepsen.util - 3	:fail	:read	:timed-out
    INFO  jepsen.util - :nemesis	:info	:start	nil

Fields after the ``jepsen.util -`` marker are separated by tabs (runs of spaces are accepted
too): process, type, f, value (EDN), and optionally an error. Lines without the marker are
other loggers' output and are skipped. On a ``fail``/``info`` completion Jepsen prints the error
in the value's place, so a keyword there (``:timed-out``) becomes the event's ``error``.

A ``:fail :cas`` that carries its ``[expected new]`` rather than an error is a compare that
failed: Jepsen's register clients log it so, and Porcupine's etcd test reads it as an
observation (``ok=false``). It becomes an ``ok`` cas with value `COMPARE_FAILED`, the lab's
record of the same thing (`lab.history.op`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lab.history.edn import Keyword, loads
from lab.history.errors import HistoryFormatError
from lab.history.history import History
from lab.history.op import COMPARE_FAILED, NEMESIS, OP_TYPES, Op

MARKER = "jepsen.util"
_LINE = re.compile(r"jepsen\.util\s+-\s+(?P<rest>.*)$")
_FIELDS = re.compile(r"(?P<process>\S+)\s+:(?P<type>\S+)\s+:?(?P<f>\S+)\s*(?P<value>.*)$")


def parse_line(rest: str, *, position: int) -> Op:
    """Interpret the text after the marker. Raises ValueError naming what is wrong."""
    fields = rest.split("\t")
    if len(fields) >= 3:
        process_s, type_s, f_s = (s.strip() for s in fields[:3])
        value_s = fields[3].strip() if len(fields) > 3 else "nil"
        error_s = "\t".join(fields[4:]).strip() if len(fields) > 4 else ""
    else:
        m = _FIELDS.match(rest.strip())
        if m is None:
            raise ValueError(f"expected 'PROCESS :TYPE :F VALUE' after '{MARKER} -'")
        process_s, type_s, f_s = m["process"], ":" + m["type"], m["f"]
        value_s, error_s = (m["value"] or "nil"), ""
    process: int | str
    if process_s.lstrip(":") == NEMESIS:
        process = NEMESIS
    elif re.fullmatch(r"\d+", process_s):
        process = int(process_s)
    else:
        raise ValueError(f"process must be an integer or :nemesis, not {process_s!r}")
    type_ = type_s.lstrip(":")
    if type_ not in OP_TYPES:
        raise ValueError(f"type must be one of :{', :'.join(OP_TYPES)}, not {type_s!r}")
    value: Any = loads(value_s) if value_s else None
    error: Any = loads(error_s) if error_s else None
    if type_ in ("fail", "info") and isinstance(value, Keyword) and process != NEMESIS:
        value, error = None, (error if error is not None else str(value))
    f = f_s.lstrip(":")
    if type_ == "fail" and f == "cas" and isinstance(value, list) and error is None:
        type_, value = "ok", COMPARE_FAILED
    return Op(
        index=position,
        process=process,
        type=type_,  # type: ignore[arg-type]  # checked against OP_TYPES above
        f=f,
        value=value,
        error=error,
    )


def parse_jepsen_log(text: str, *, source: str = "<string>") -> History:
    """Parse every ``jepsen.util`` line of a log; other lines are skipped."""
    events: list[Op] = []
    lines: list[int] = []
    for lineno, raw in enumerate(text.split("\n"), start=1):
        if MARKER not in raw:
            continue
        m = _LINE.search(raw)
        try:
            if m is None:
                raise ValueError(f"expected '{MARKER} - ' followed by an event")
            events.append(parse_line(m["rest"], position=len(events)))
        except ValueError as exc:
            raise HistoryFormatError(str(exc), source=source, line=lineno) from None
        lines.append(lineno)
    return History(events=events, source=source, format="jepsen-log", lines=lines)


def read_jepsen_log(path: str | Path) -> History:
    """Read a Jepsen log file (see the module docstring)."""
    return parse_jepsen_log(Path(path).read_text(encoding="utf-8"), source=str(path))
