"""Porcupine's kv histories (``test_data/kv/*.txt`` in anishathalye/porcupine).

They are Jepsen EDN maps, one per line, with string ``:key`` and ``:value`` and ``:f`` one of
``:get``, ``:put``, ``:append``::

    {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}

The difference from the lab's kv semantics is the initial value: Porcupine's model starts every
key at the empty string, so a ``get`` of a key never written returns ``""``. The reader records
that as ``History.absent = ""``, which `lab.checker` turns into ``KVModel(absent="")``.
"""

from __future__ import annotations

from pathlib import Path

from lab.history.edn import parse_edn_history
from lab.history.history import History

PORCUPINE_FS = frozenset({"get", "put", "append"})


def parse_porcupine(text: str, *, source: str = "<string>") -> History:
    """Parse a Porcupine kv history."""
    history = parse_edn_history(text, source=source, format="porcupine")
    history.absent = ""
    return history


def read_porcupine(path: str | Path) -> History:
    """Read a Porcupine kv history file."""
    return parse_porcupine(Path(path).read_text(encoding="utf-8"), source=str(path))
