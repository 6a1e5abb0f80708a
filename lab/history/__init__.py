"""Histories: what clients saw, one event per line, in the lab's JSONL or Jepsen's formats.

The lab writes histories with `HistoryWriter` and reads any supported format with
`read_history`; checkers take `History.operations()` (invokes paired with completions).
"""

from lab.history.edn import op_to_edn, parse_edn_history, read_edn, to_edn
from lab.history.errors import HistoryError, HistoryFormatError
from lab.history.formats import FORMATS, Format, detect_format, parse_history, read_history
from lab.history.history import History
from lab.history.jepsen_log import parse_jepsen_log, read_jepsen_log
from lab.history.jsonl import HistoryWriter, op_from_dict, op_to_dict, parse_jsonl, read_jsonl
from lab.history.op import NEMESIS, UNKNOWN, Op, Operation, OpType
from lab.history.pairing import normalize_f, pair
from lab.history.porcupine import parse_porcupine, read_porcupine

__all__ = [
    "FORMATS",
    "NEMESIS",
    "UNKNOWN",
    "Format",
    "History",
    "HistoryError",
    "HistoryFormatError",
    "HistoryWriter",
    "Op",
    "OpType",
    "Operation",
    "detect_format",
    "normalize_f",
    "op_from_dict",
    "op_to_dict",
    "op_to_edn",
    "pair",
    "parse_edn_history",
    "parse_history",
    "parse_jepsen_log",
    "parse_jsonl",
    "parse_porcupine",
    "read_edn",
    "read_history",
    "read_jepsen_log",
    "read_jsonl",
    "read_porcupine",
    "to_edn",
]
