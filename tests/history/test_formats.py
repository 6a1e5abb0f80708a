"""Format detection, explicit formats, Porcupine's kv histories, and pairing rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.history import (
    UNKNOWN,
    HistoryError,
    HistoryFormatError,
    Op,
    detect_format,
    pair,
    parse_history,
    read_history,
)

REPO = Path(__file__).parents[2]
PORCUPINE_KV = REPO.parent / "shared/data/histories/porcupine-kv"

JSONL = '{"process": 0, "type": "invoke", "f": "read", "value": null}\n'
EDN = "{:process 0, :type :invoke, :f :read, :value nil}\n"
PORC = '{:process 0, :type :invoke, :f :put, :key "1", :value "x"}\n'
LOG = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"


@pytest.mark.parametrize(
    ("text", "fmt"),
    [(JSONL, "jsonl"), (EDN, "edn"), (LOG, "jepsen-log"), ("\n\n" + JSONL, "jsonl")],
)
def test_detect(text: str, fmt: str) -> None:
    assert detect_format(text) == fmt


def test_detect_porcupine_from_its_operations() -> None:
    h = parse_history(PORC)
    assert h.format == "porcupine" and h.absent == ""
    # Explicit formats win: the same text read as plain EDN keeps absent = None.
    plain = parse_history(PORC, "edn")
    assert plain.format == "edn" and plain.absent is None


def test_undetectable_and_unknown_formats() -> None:
    with pytest.raises(HistoryFormatError, match="pass --format"):
        detect_format("hello\nworld\n", source="x.txt")
    with pytest.raises(HistoryFormatError, match="unknown format"):
        parse_history(JSONL, "yaml")


def test_explicit_format_mismatch_names_the_line() -> None:
    with pytest.raises(HistoryFormatError) as err:
        parse_history("\n" + LOG, "jsonl", source="f")
    assert str(err.value).startswith("f:2: ")


def test_porcupine_kv_files() -> None:
    if not PORCUPINE_KV.is_dir():
        pytest.skip(f"Porcupine's kv histories are not at {PORCUPINE_KV} (shared/ not present)")
    h = read_history(PORCUPINE_KV / "c01-ok.txt")
    assert h.format == "porcupine" and h.absent == ""
    ops = h.operations()
    assert len(ops) == 58 and {o.f for o in ops} <= {"read", "write", "append"}


def test_pairing_rules() -> None:
    events = [
        Op(0, 0, "invoke", "write", 1),
        Op(1, 1, "invoke", "write", 2),
        Op(2, "nemesis", "info", "start", None),
        Op(3, 0, "ok", "write", 1),
        Op(4, 1, "fail", "write", 2),
        Op(5, 2, "invoke", "cas", [1, 3]),
        Op(6, 2, "info", "cas", [1, 3], error="timeout"),
        Op(7, 3, "invoke", "get", None),
        Op(8, 3, "ok", "get", 1),
        Op(9, 4, "invoke", "put", 5),
    ]
    ops = pair(events)
    assert [(o.f, o.call, o.ret) for o in ops] == [
        ("write", 0, 3), ("cas", 5, None), ("read", 7, 8), ("write", 9, None),
    ]  # fmt: skip
    assert ops[1].output is UNKNOWN and ops[1].error == "timeout"
    assert ops[2].output == 1 and ops[3].output is UNKNOWN
    assert [o.id for o in ops] == [0, 1, 2, 3]


def test_pairing_uses_time_when_every_event_has_one() -> None:
    events = [
        Op(0, 0, "invoke", "write", 1, time=100),
        Op(1, 0, "ok", "write", 1, time=250),
    ]
    [op] = pair(events)
    assert (op.call, op.ret) == (100, 250)


def test_pairing_errors_name_the_line() -> None:
    h = parse_history(JSONL + JSONL, source="h.jsonl")
    with pytest.raises(HistoryError) as err:
        h.operations()
    assert str(err.value).startswith("h.jsonl:2: ") and "still open" in str(err.value)
    orphan = parse_history('{"process": 5, "type": "ok", "f": "read", "value": 1}\n', source="o")
    with pytest.raises(HistoryError, match="o:1: process 5 completes read"):
        orphan.operations()
