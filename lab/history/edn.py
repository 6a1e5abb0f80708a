"""Just enough EDN to read and write Jepsen histories: one map per line.

Jepsen writes each event as an EDN map (``{:process 0, :type :invoke, :f :read, :value nil}``);
`loads` reads one such form and `dumps` writes one back. Keywords become `Keyword` (a `str`, so
they compare equal to plain strings), symbols `Symbol`, vectors and lists Python lists, sets
sorted lists when sortable, and tagged literals (``#inst "..."``) their tagged value. That is the
subset histories use; anything else is a `ValueError` the readers turn into a line-numbered
`HistoryFormatError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lab.history.errors import HistoryFormatError
from lab.history.history import History
from lab.history.op import NEMESIS, OP_TYPES, Op


class Keyword(str):
    """An EDN keyword, without its colon: ``:read`` is ``Keyword("read")`` == ``"read"``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str(self)


class Symbol(str):
    """An EDN symbol other than nil/true/false."""

    __slots__ = ()


_TOKEN = re.compile(
    r"""
      (?P<ws>[\s,]+|;[^\n]*)
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<open>\#\{|[\[({])
    | (?P<close>[\])}])
    | (?P<discard>\#_)
    | (?P<tag>\#[A-Za-z][^\s,\[\](){}"]*)
    | (?P<char>\\(?:newline|space|tab|return|u[0-9a-fA-F]{4}|\S))
    | (?P<atom>[^\s,\[\](){}"\\;\#][^\s,\[\](){}"\\;]*)
    """,
    re.VERBOSE,
)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_LINE_BREAKS = {c: f"\\u{c:04x}" for c in (0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)}
_KEYWORD = re.compile(r"[A-Za-z*+!_?<>=.\-][\w*+!_?<>=.\-/#']*")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unexpected character {text[pos]!r} at column {pos + 1}")
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            out.append((kind, m.group()))
        pos = m.end()
    return out


def loads(text: str) -> Any:
    """Parse exactly one EDN form (surrounding whitespace and commas allowed)."""
    toks = _tokens(text)
    if not toks:
        raise ValueError("empty line: no EDN form")
    value, i = _parse(toks, 0)
    if i != len(toks):
        raise ValueError(f"unexpected {toks[i][1]!r} after the first form")
    return value


def _parse(toks: Sequence[tuple[str, str]], i: int) -> tuple[Any, int]:
    if i >= len(toks):
        raise ValueError("unexpected end of line inside a form")
    kind, tok = toks[i]
    if kind == "open":
        items: list[Any] = []
        j = i + 1
        while True:
            if j >= len(toks):
                raise ValueError(f"unclosed {tok!r}")
            k, t = toks[j]
            if k == "close":
                if t != _CLOSERS[tok]:
                    raise ValueError(f"{tok!r} closed by {t!r}")
                j += 1
                break
            if k == "discard":
                _, j = _parse(toks, j + 1)
                continue
            item, j = _parse(toks, j)
            items.append(item)
        if tok == "{":
            if len(items) % 2:
                raise ValueError("a map needs an even number of forms")
            return {_hashable(items[a]): items[a + 1] for a in range(0, len(items), 2)}, j
        if tok == "#{":
            try:
                return sorted(items), j
            except TypeError:
                return items, j
        return items, j
    if kind == "close":
        raise ValueError(f"unexpected {tok!r}")
    if kind == "discard":
        _, j = _parse(toks, i + 1)
        return _parse(toks, j)
    if kind == "tag":
        return _parse(toks, i + 1)
    if kind == "str":
        return _string(tok), i + 1
    if kind == "char":
        body = tok[1:]
        if body in _CHARS:
            return _CHARS[body], i + 1
        if len(body) == 5 and body[0] == "u":
            return chr(int(body[1:], 16)), i + 1
        return body, i + 1
    return _atom(tok), i + 1


def _string(tok: str) -> str:
    try:
        value = json.loads(tok)
    except json.JSONDecodeError:
        value = json.loads(tok.replace("\\'", "'"))
    assert isinstance(value, str)
    return value


def _atom(tok: str) -> Any:
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if tok[0] == ":":
        if len(tok) == 1:
            raise ValueError("a keyword needs a name after ':'")
        return Keyword(tok[1:].lstrip(":"))
    if _INT.fullmatch(tok):
        return int(tok.rstrip("N"))
    if _FLOAT.fullmatch(tok):
        return float(tok.rstrip("M"))
    if tok in ("##Inf", "##-Inf", "##NaN"):
        return {"##Inf": math.inf, "##-Inf": -math.inf, "##NaN": math.nan}[tok]
    if tok[0].isdigit() or (tok[0] in "+-" and len(tok) > 1 and tok[1].isdigit()):
        raise ValueError(f"malformed number {tok!r}")
    return Symbol(tok)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((_hashable(k), _hashable(x)) for k, x in v.items()))
    return v


def dumps(value: Any) -> str:
    """One EDN form for a JSON-shaped value (plus `Keyword`, `Symbol`, tuples and sets)."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Keyword):
        return ":" + value
    if isinstance(value, Symbol):
        return str(value)
    if isinstance(value, str):
        # Readable UTF-8, but never a character that some readers take for a line break.
        text = json.dumps(value, ensure_ascii=False)
        return text.translate(_LINE_BREAKS)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "##NaN"
        if math.isinf(value):
            return "##Inf" if value > 0 else "##-Inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(dumps(v) for v in value) + "]"
    if isinstance(value, set | frozenset):
        return "#{" + " ".join(dumps(v) for v in sorted(value, key=repr)) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{dumps(k)} {dumps(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as EDN")


def _name(value: str) -> str:
    """A keyword when the name allows it, else a string (``:f "odd name"``)."""
    return ":" + value if _KEYWORD.fullmatch(value) else dumps(value)


# ---------------------------------------------------------------------------------------------
# Histories


def op_to_edn(op: Op) -> str:
    """One event as a Jepsen EDN map; absent optional fields are left out, ``:value`` never."""
    parts = [f":index {op.index}"]
    if op.time is not None:
        parts.append(f":time {op.time}")
    process = _name(op.process) if isinstance(op.process, str) else str(op.process)
    parts += [f":process {process}", f":type :{op.type}", f":f {_name(op.f)}"]
    if op.key is not None:
        parts.append(f":key {dumps(op.key)}")
    parts.append(f":value {dumps(op.value)}")
    if op.node is not None:
        parts.append(f":node {dumps(op.node)}")
    if op.error is not None:
        parts.append(f":error {dumps(op.error)}")
    return "{" + ", ".join(parts) + "}"


def to_edn(history: History | Iterable[Op]) -> str:
    """A whole history (or its events) in Jepsen's EDN form, one map per line: what
    ``aspen-lab export --edn`` writes."""
    events = history.events if isinstance(history, History) else history
    return "".join(op_to_edn(op) + "\n" for op in events)


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
    for name, v in (("index", index), ("time", time)):
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
    )


_END = r"(?=[\s,}\]])"
_FAST_ENTRY = re.compile(
    r"[\s,]*:(?P<k>[A-Za-z][\w.\-]*)[\s,]+(?:"
    rf"(?P<nil>nil){_END}|(?P<t>true){_END}|(?P<f>false){_END}|(?P<i>-?\d+){_END}"
    rf"|:(?P<kw>[A-Za-z][\w.\-]*){_END}"
    r'|(?P<s>"(?:[^"\\]|\\.)*")'
    r"|(?P<v>\[(?:[\s,]*(?:-?\d+|nil)(?=[\s,\]]))*[\s,]*\]))"
)
_FAST_REST = re.compile(r"[\s,]*\}")
_FAST_ITEMS = re.compile(r"-?\d+|nil")


def _fast_map(line: str) -> dict[Any, Any] | None:
    """The common shape of a history line, a flat map of keyword keys to nil, booleans,
    integers, keywords, strings or vectors of integers, parsed with one regex step per entry
    (several times faster than the general reader). None: not that shape, use `loads`; for
    what it accepts the result is exactly what `loads` returns."""
    if not line.startswith("{"):
        return None
    out: dict[Any, Any] = {}
    pos = 1
    match = _FAST_ENTRY.match
    while (m := match(line, pos)) is not None:
        kind = m.lastgroup
        if kind == "i":
            v: Any = int(m["i"])
        elif kind == "kw":
            v = Keyword(m["kw"])
        elif kind == "s":
            v = _string(m["s"])
        elif kind == "nil":
            v = None
        elif kind == "v":
            v = [None if x == "nil" else int(x) for x in _FAST_ITEMS.findall(m["v"])]
        else:
            v = kind == "t"
        out[Keyword(m["k"])] = v
        pos = m.end()
    if _FAST_REST.fullmatch(line, pos) is None:
        return None
    return out


def parse_edn_history(text: str, *, source: str = "<string>", format: str = "edn") -> History:
    """Parse a Jepsen EDN history (one map per line; blank and ``;`` comment lines skipped)."""
    events: list[Op] = []
    lines: list[int] = []
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        try:
            m = _fast_map(line)
            if m is None:
                m = loads(line)
            events.append(op_from_edn_map(m, position=len(events)))
        except (ValueError, TypeError) as exc:
            raise HistoryFormatError(str(exc), source=source, line=lineno) from None
        lines.append(lineno)
    return History(events=events, source=source, format=format, lines=lines)


def read_edn(path: str | Path) -> History:
    """Read a Jepsen EDN history file."""
    return parse_edn_history(Path(path).read_text(encoding="utf-8"), source=str(path))
