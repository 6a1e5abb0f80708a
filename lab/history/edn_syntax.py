"""EDN values: a recursive-descent reader for any EDN text, and a writer for JSON-shaped values.

Jepsen and Knossos write histories in every layout EDN allows: one map per line, one vector of
maps pretty-printed over many lines, records (``#jepsen.history.Op{...}``), nested maps in
``:value`` and ``:error``, sets, chars, ``#inst``/``#uuid`` literals, comments and ``#_``
discards. The reader takes all of it; a line-based reader cannot, since a form may span lines.

Mapping to Python: keywords become `Keyword` (a `str`, so ``:read == "read"``; namespaced
keywords keep their namespace, ``:a/b`` is ``Keyword("a/b")``), symbols `Symbol`, vectors and
lists Python lists, sets sorted lists (when sortable), maps dicts (keys made hashable: a vector
key becomes a tuple), chars one-character strings, and a tagged literal its tagged value
(``#inst "2020"`` is ``"2020"``, a record its map). A namespaced map ``#:ns{:a 1}`` qualifies
its plain keyword keys (``:ns/a``). Every error is an `EdnSyntaxError` that knows its line and
column.

Why our own reader: `edn_format` (PyPI) builds on a PLY grammar, is several times slower on
large histories and reports no columns; this is a few hundred lines and has a fast path for
the flat maps that make up most histories (see `read_flat_map`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, Final


class Keyword(str):
    """An EDN keyword, without its colon: ``:read`` is ``Keyword("read")`` == ``"read"``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str(self)


class Symbol(str):
    """An EDN symbol other than nil/true/false."""

    __slots__ = ()


class EdnSyntaxError(ValueError):
    """Text that is not EDN; ``pos`` is the offset, ``line``/``column`` (1-based) where it is."""

    def __init__(self, message: str, text: str, pos: int) -> None:
        pos = max(0, min(pos, len(text)))
        self.line: Final = text.count("\n", 0, pos) + 1
        self.column: Final = pos - (text.rfind("\n", 0, pos) + 1) + 1
        self.pos: Final = pos
        self.reason: Final = message
        super().__init__(f"{message} (line {self.line}, column {self.column})")


_TOKEN: Final = re.compile(
    r"""
      (?P<ws>(?:[\s,]+|;[^\n]*)+)
    | (?P<str>"(?:[^"\\]|\\[\s\S])*")
    | (?P<open>\#\{|[\[({])
    | (?P<close>[\])}])
    | (?P<discard>\#_)
    | (?P<special>\#\#(?:Inf|-Inf|NaN))
    | (?P<nsmap>\#::?[A-Za-z*+!_?<>=.\-][^\s,\[\](){}"\\;]*(?=\s*\{))
    | (?P<tag>\#[A-Za-z][^\s,\[\](){}"\\;]*)
    | (?P<char>\\(?:newline|space|tab|return|backspace|formfeed|u[0-9a-fA-F]{4}|[\s\S]))
    | (?P<atom>[^\s,\[\](){}"\\;\#][^\s,\[\](){}"\\;]*)
    """,
    re.VERBOSE,
)
_INT: Final = re.compile(r"[+-]?\d+N?")
_FLOAT: Final = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_RATIO: Final = re.compile(r"[+-]?\d+/\d+")
_CHARS: Final = {
    "newline": "\n", "space": " ", "tab": "\t", "return": "\r", "backspace": "\b",
    "formfeed": "\f",
}  # fmt: skip
_CLOSERS: Final = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_SPECIAL: Final = {"##Inf": math.inf, "##-Inf": -math.inf, "##NaN": math.nan}


class _Reader:
    """One pass over ``text``; `form` reads the form at ``pos`` and moves past it."""

    __slots__ = ("end", "pos", "text")

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos
        self.end = len(text)

    def error(self, message: str, pos: int | None = None) -> EdnSyntaxError:
        return EdnSyntaxError(message, self.text, self.pos if pos is None else pos)

    def skip(self) -> None:
        """Past whitespace, commas, comments and ``#_`` discarded forms."""
        text = self.text
        while self.pos < self.end:
            m = _TOKEN.match(text, self.pos)
            if m is None:
                return
            kind = m.lastgroup
            if kind == "ws":
                self.pos = m.end()
            elif kind == "discard":
                self.pos = m.end()
                self.form()
            else:
                return

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= self.end

    def peek_close(self) -> bool:
        self.skip()
        return self.pos < self.end and self.text[self.pos] in ")]}"

    def form(self) -> Any:
        """The next form; raises `EdnSyntaxError` at the end of text or on a stray closer."""
        self.skip()
        if self.pos >= self.end:
            raise self.error("unexpected end of input: a form was expected")
        start = self.pos
        m = _TOKEN.match(self.text, start)
        if m is None:
            raise self.error(f"unexpected character {self.text[start]!r}")
        kind = m.lastgroup
        tok = m.group()
        self.pos = m.end()
        if kind == "open":
            if tok == "{":
                flat = read_flat_map(self.text, start)
                if flat is not None:
                    self.pos = flat[1]
                    return flat[0]
            return self._collection(tok, start)
        if kind == "atom":
            return _atom(tok, self, start)
        if kind == "str":
            return _string(tok, self, start)
        if kind == "close":
            raise self.error(f"unexpected {tok!r}", start)
        if kind == "tag":
            if self.at_end():
                raise self.error(f"tag {tok} has no value", start)
            return self.form()
        if kind == "nsmap":
            ns = tok.lstrip("#:")
            value = self.form()
            assert isinstance(value, dict)
            return {
                Keyword(f"{ns}/{k}") if isinstance(k, Keyword) and "/" not in k else k: v
                for k, v in value.items()
            }
        if kind == "char":
            body = tok[1:]
            if body in _CHARS:
                return _CHARS[body]
            if len(body) == 5 and body[0] == "u":
                return chr(int(body[1:], 16))
            return body
        if kind == "special":
            return _SPECIAL[tok]
        raise self.error(f"unexpected {tok!r}", start)  # pragma: no cover (ws/discard skipped)

    def _collection(self, opener: str, start: int) -> Any:
        closer = _CLOSERS[opener]
        items: list[Any] = []
        text = self.text
        while True:
            self.skip()
            if self.pos >= self.end:
                raise self.error(f"unclosed {opener!r}", start)
            c = text[self.pos]
            if c in ")]}":
                if c != closer:
                    raise self.error(f"{opener!r} closed by {c!r}")
                self.pos += 1
                break
            if c == "{":
                flat = read_flat_map(text, self.pos)
                if flat is not None:
                    items.append(flat[0])
                    self.pos = flat[1]
                    continue
            items.append(self.form())
        if opener == "{":
            if len(items) % 2:
                raise self.error("a map needs an even number of forms", start)
            return {_hashable(items[a]): items[a + 1] for a in range(0, len(items), 2)}
        if opener == "#{":
            try:
                return sorted(items)
            except TypeError:
                return items
        return items


def _string(tok: str, reader: _Reader, start: int) -> str:
    try:
        value = json.loads(tok, strict=False)
    except json.JSONDecodeError:
        try:
            value = json.loads(tok.replace("\\'", "'"), strict=False)
        except json.JSONDecodeError as exc:
            raise reader.error(f"bad string escape: {exc.msg}", start) from None
    assert isinstance(value, str)
    return value


def _atom(tok: str, reader: _Reader, start: int) -> Any:
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if tok[0] == ":":
        name = tok[1:].lstrip(":")
        if not name:
            raise reader.error("a keyword needs a name after ':'", start)
        return Keyword(name)
    if _INT.fullmatch(tok):
        return int(tok.rstrip("N"))
    if _FLOAT.fullmatch(tok):
        return float(tok.rstrip("M"))
    if _RATIO.fullmatch(tok):
        num, den = tok.split("/")
        return int(num) / int(den)
    if tok[0].isdigit() or (tok[0] in "+-" and len(tok) > 1 and tok[1].isdigit()):
        raise reader.error(f"malformed number {tok!r}", start)
    return Symbol(tok)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((_hashable(k), _hashable(x)) for k, x in v.items()))
    return v


def loads(text: str) -> Any:
    """Exactly one EDN form (surrounding whitespace, commas and comments allowed)."""
    reader = _Reader(text)
    if reader.at_end():
        raise reader.error("empty: no EDN form")
    value = reader.form()
    if not reader.at_end():
        raise reader.error("unexpected text after the first form")
    return value


def iter_forms(text: str) -> Iterator[tuple[int, Any]]:
    """(offset, form) for each top-level form of ``text``, in order."""
    reader = _Reader(text)
    while not reader.at_end():
        start = reader.pos
        if text[start] == "{":
            flat = read_flat_map(text, start)
            if flat is not None:
                reader.pos = flat[1]
                yield start, flat[0]
                continue
        yield start, reader.form()


def iter_items(text: str, pos: int) -> Iterator[tuple[int, Any]]:
    """(offset, form) for each item of the vector or list that opens at ``pos``; raises
    `EdnSyntaxError` unless exactly that collection (and nothing more) follows."""
    reader = _Reader(text, pos)
    closer = {"[": "]", "(": ")"}[text[pos]]
    reader.pos += 1
    while True:
        reader.skip()
        if reader.pos >= reader.end:
            raise reader.error(f"unclosed {text[pos]!r}", pos)
        c = text[reader.pos]
        if c in ")]}":
            if c != closer:
                raise reader.error(f"{text[pos]!r} closed by {c!r}")
            reader.pos += 1
            break
        start = reader.pos
        flat = read_flat_map(text, start) if c == "{" else None
        if flat is not None:
            reader.pos = flat[1]
            yield start, flat[0]
        else:
            yield start, reader.form()
    if not reader.at_end():
        raise reader.error("unexpected text after the history's top-level collection")


# --- the fast path ------------------------------------------------------------------------------

_END: Final = r"(?=[\s,}\]])"
_FAST_ENTRY: Final = re.compile(
    r"[\s,]*:(?P<k>[A-Za-z][\w.\-]*)[\s,]+(?:"
    rf"(?P<nil>nil){_END}|(?P<t>true){_END}|(?P<f>false){_END}|(?P<i>-?\d+){_END}"
    rf"|:(?P<kw>[A-Za-z][\w.\-]*){_END}"
    r'|(?P<s>"(?:[^"\\\n]|\\.)*")'
    r"|(?P<v>\[(?:[\s,]*(?:-?\d+|nil)(?=[\s,\]]))*[\s,]*\]))"
)
_FAST_REST: Final = re.compile(r"[\s,]*\}")
_FAST_ITEMS: Final = re.compile(r"-?\d+|nil")


def read_flat_map(text: str, pos: int) -> tuple[dict[Any, Any], int] | None:
    """The common shape of a history event at ``pos`` (a ``{``): a flat map of keyword keys to
    nil, booleans, integers, keywords, strings or vectors of integers, read with one regex step
    per entry (several times faster than the general reader). Returns (map, offset past it),
    or None when the map is not of that shape (then the general reader must read it); for what
    it accepts the result is exactly what the general reader returns."""
    out: dict[Any, Any] = {}
    pos += 1
    match = _FAST_ENTRY.match
    while (m := match(text, pos)) is not None:
        kind = m.lastgroup
        if kind == "i":
            v: Any = int(m["i"])
        elif kind == "kw":
            v = Keyword(m["kw"])
        elif kind == "s":
            try:
                v = json.loads(m["s"])
            except json.JSONDecodeError:
                return None
        elif kind == "nil":
            v = None
        elif kind == "v":
            v = [None if x == "nil" else int(x) for x in _FAST_ITEMS.findall(m["v"])]
        else:
            v = kind == "t"
        out[Keyword(m["k"])] = v
        pos = m.end()
    rest = _FAST_REST.match(text, pos)
    if rest is None:
        return None
    return out, rest.end()


# --- the writer ----------------------------------------------------------------------------------

_LINE_BREAKS: Final = {
    c: f"\\u{c:04x}" for c in (0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)
}


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


def dumps_pretty(value: Any, indent: int = 0) -> str:
    """Like `dumps`, with every collection of more than one item spread over lines (as
    Clojure's pprint does for long forms): the same value, another layout."""
    pad = " " * (indent + 1)
    if isinstance(value, dict) and len(value) > 1:
        parts = [
            f"{dumps(k)} {dumps_pretty(v, indent + 2 + len(dumps(k)))}" for k, v in value.items()
        ]
        return "{" + (",\n" + pad).join(parts) + "}"
    if isinstance(value, list | tuple) and len(value) > 1:
        return "[" + ("\n" + pad).join(dumps_pretty(v, indent + 1) for v in value) + "]"
    return dumps(value)
