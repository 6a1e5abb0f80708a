"""What a run records: the client/nemesis history (the lab's JSONL format) and a trace.

History: one JSON object per line, in the order events happened::

    {"index": 0, "time": 1000000, "process": 3, "type": "invoke", "f": "write",
     "key": "k1", "value": "v17", "node": 2, "error": null}

``type`` is ``invoke``, ``ok``, ``fail`` (definitely did not happen) or ``info`` (unknown).
``f`` is ``read`` (value read; null = absent), ``write`` (the value written) or ``cas``
(``[expected, new]``, expected null = must be absent). ``time`` is nanoseconds of virtual time.
Nemesis events are ``{"process": "nemesis", "type": "info", "f": "start-partition", ...}``.

The trace is a plain-text log of everything that moved (faults, role changes, commits, and with
``messages=True`` every delivered message); its SHA-256 is what the determinism test compares.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


class History:
    """An append-only list of history events."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def op(
        self,
        time: int,
        process: int,
        type_: str,
        f: str,
        key: str,
        value: Any,
        node: str | None,
        error: str | None = None,
    ) -> None:
        self.events.append(
            {
                "index": len(self.events),
                "time": time,
                "process": process,
                "type": type_,
                "f": f,
                "key": key,
                "value": value,
                "node": node,
                "error": error,
            }
        )

    def nemesis(self, time: int, f: str, value: Any) -> None:
        self.events.append(
            {
                "index": len(self.events),
                "time": time,
                "process": "nemesis",
                "type": "info",
                "f": f,
                "value": value,
            }
        )

    def client_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["process"] != "nemesis"]

    def to_jsonl(self) -> str:
        return "".join(json.dumps(e, separators=(", ", ": ")) + "\n" for e in self.events)

    def write(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_jsonl())


class Trace:
    """Text lines of what happened, hashed as they come; kept in memory only if asked."""

    __slots__ = ("_hash", "keep", "lines", "messages")

    def __init__(self, keep: bool = False, messages: bool = False) -> None:
        self._hash = hashlib.sha256()
        self.keep = keep
        self.messages = messages
        """Also trace every delivered Raft message (slow: one ``repr`` per message)."""
        self.lines: list[str] = []

    def log(self, time: int, text: str) -> None:
        line = f"{time:>14} {text}\n"
        self._hash.update(line.encode())
        if self.keep:
            self.lines.append(line)

    def digest(self) -> str:
        return self._hash.hexdigest()

    def write(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(self.lines)
