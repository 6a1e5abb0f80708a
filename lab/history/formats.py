"""Read a history in any supported format, naming it or letting the first lines tell.

=============  =====================================================================
``jsonl``      the lab's own format (`lab.history.jsonl`)
``edn``        Jepsen/Knossos EDN maps, any layout (`lab.history.edn`)
``jepsen-log`` Jepsen's ``jepsen.util`` log lines (`lab.history.jepsen_log`)
``porcupine``  Porcupine's kv histories: EDN with get/put/append (`lab.history.porcupine`)
=============  =====================================================================

Detection looks at the text, not the file name: a line with ``jepsen.util`` means a log, a
line starting ``{"`` JSONL, a line starting ``{:`` EDN, and EDN whose operations are all
get/put/append (with no ``nil`` read) Porcupine's kv format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, TypeAlias, get_args

from lab.history.edn import parse_edn_history
from lab.history.errors import HistoryFormatError
from lab.history.history import History
from lab.history.jepsen_log import MARKER, parse_jepsen_log
from lab.history.jsonl import parse_jsonl
from lab.history.porcupine import PORCUPINE_FS

Format: TypeAlias = Literal["jsonl", "edn", "jepsen-log", "porcupine"]
FORMATS: Final[tuple[str, ...]] = get_args(Format)
_SNIFF_LINES: Final = 50


def detect_format(text: str, *, source: str = "<string>") -> Format:
    """The format of a history's text (see the module docstring for the rules)."""
    seen = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if MARKER in line:
            return "jepsen-log"
        if line.startswith(";"):
            continue  # an EDN comment
        if line.startswith("#") and line[1:2].isalpha():
            return "edn"  # a tagged record: #jepsen.history.Op{...}
        line = line.lstrip("[(").lstrip()  # a history as one vector or list
        if not line:
            continue
        if line.startswith("{"):
            body = line[1:].lstrip()
            if body.startswith('"') or body.startswith("}"):
                return "jsonl"
            if body.startswith(":"):
                return "edn"
        seen += 1
        if seen >= _SNIFF_LINES:
            break
    raise HistoryFormatError(
        "cannot tell the history format from the first lines; pass --format " + "|".join(FORMATS),
        source=source,
    )


def parse_history(text: str, format: str | None = None, *, source: str = "<string>") -> History:
    """Parse a history's text in ``format`` (detected when None)."""
    fmt = format or detect_format(text, source=source)
    if fmt == "jsonl":
        return parse_jsonl(text, source=source)
    if fmt == "jepsen-log":
        return parse_jepsen_log(text, source=source)
    if fmt in ("edn", "porcupine"):
        history = parse_edn_history(text, source=source, format=fmt)
        if fmt == "porcupine" or (format is None and _looks_like_porcupine(history)):
            history.format = "porcupine"
            history.absent = ""
        return history
    raise HistoryFormatError(
        f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", source=source
    )


def read_history(path: str | Path, format: str | None = None) -> History:
    """Read a history file in ``format`` (detected from its text when None).

    Raises `HistoryFormatError` (``FILE:LINE: message``) for anything it cannot parse, and
    `OSError` when the file cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    return parse_history(text, format, source=str(path))


def _looks_like_porcupine(history: History) -> bool:
    clients = [e for e in history.events if not e.is_nemesis]
    if not clients or any(e.f not in PORCUPINE_FS for e in clients):
        return False
    return not any(e.type == "ok" and e.f == "get" and e.value is None for e in clients)
