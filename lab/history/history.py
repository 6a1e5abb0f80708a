"""`History`: the events of one file, where they came from, and how to read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.history.op import Op, Operation
from lab.history.pairing import pair


@dataclass
class History:
    """A parsed history: events in file order, plus what a checker needs to interpret them.

    ``lines`` holds the 1-based source line of each event (readers skip blank and foreign lines,
    so it is not simply index + 1). ``absent`` is the value a read returns for a key that was
    never written: None in the lab's format, the empty string in Porcupine's kv histories.
    """

    events: list[Op]
    source: str | None = None
    format: str = "jsonl"
    lines: list[int] | None = None
    absent: Any = None
    notes: list[str] = field(default_factory=list)

    def operations(self) -> list[Operation]:
        """Invokes paired with completions (see `lab.history.pairing.pair`)."""
        return pair(self.events, source=self.source, lines=self.lines)

    def __len__(self) -> int:
        return len(self.events)
