"""The lab's JSONL: appender and reader, torn last lines, line-numbered errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.history import HistoryFormatError, HistoryWriter, Op, parse_jsonl, read_jsonl
from lab.history.jsonl import op_to_dict

LINE = (
    '{"index": 0, "time": 1234, "process": 0, "type": "invoke", "f": "write", "key": "k1", '
    '"value": 3, "node": "n1", "error": null}'
)


def test_reads_the_documented_line() -> None:
    [op] = parse_jsonl(LINE + "\n").events
    assert op == Op(0, 0, "invoke", "write", 3, time=1234, key="k1", node="n1")


def test_writer_appends_flushed_lines_with_indexes(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as w:
        a = w.record(time=1, process=0, type="invoke", f="read")
        # Flushed per line: a reader sees it before the writer closes.
        assert json.loads(path.read_text().splitlines()[0])["f"] == "read"
        b = w.record(time=2, process=0, type="ok", f="read", value=None)
        w.record(time=3, process="nemesis", type="info", f="start-partition", value=["n1"])
    assert (a.index, b.index) == (0, 1)
    h = read_jsonl(path)
    assert [e.index for e in h.events] == [0, 1, 2] and h.lines == [1, 2, 3]
    assert h.events[2].is_nemesis
    # A second writer on the same file continues the numbering.
    with HistoryWriter(path) as w:
        assert w.record(time=4, process=1, type="invoke", f="read").index == 3


def test_a_torn_last_line_is_forgiven_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(LINE + "\n" + LINE[:40])
    h = read_jsonl(path)
    assert len(h.events) == 1
    assert h.notes and "torn last line" in h.notes[0] and ":2:" in h.notes[0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json}", "Expecting property name"),
        ('{"process": 0, "type": "done", "f": "read"}', '"type" must be one of'),
        ('{"process": 0.5, "type": "ok", "f": "read"}', '"process" must be'),
        ('{"process": 0, "type": "ok", "f": 7}', '"f" must be a string'),
        ('{"process": 0, "type": "ok", "f": "read", "colour": 1}', "unknown field(s): colour"),
        ('{"process": 0, "type": "ok", "f": "read", "time": "x"}', '"time" must be an integer'),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(LINE + "\n\n" + line + "\n" + LINE + "\n")
    with pytest.raises(HistoryFormatError) as err:
        read_jsonl(path)
    assert str(err.value).startswith(f"{path}:3: ")
    assert message in str(err.value)
    assert err.value.line == 3


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)
events = st.builds(
    Op,
    index=st.integers(0, 10**6),
    process=st.integers(0, 50) | st.just("nemesis"),
    type=st.sampled_from(["invoke", "ok", "fail", "info"]),
    f=st.sampled_from(["read", "write", "cas", "add", "append"]),
    value=values,
    time=st.none() | st.integers(0, 10**12),
    key=st.none() | st.text(max_size=3) | st.integers(0, 9),
    node=st.none() | st.sampled_from(["n1", "n2"]),
    error=st.none() | st.text(max_size=8),
    revision=st.none() | st.integers(0, 10**9),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(events, max_size=8))
def test_json_round_trip(ops: list[Op]) -> None:
    text = "".join(json.dumps(op_to_dict(op)) + "\n" for op in ops)
    assert parse_jsonl(text).events == ops


def test_revision_is_written_only_when_known() -> None:
    assert "revision" not in op_to_dict(Op(0, 1, "ok", "read", 3))
    line = op_to_dict(Op(0, 1, "ok", "read", 3, revision=17))
    assert line["revision"] == 17
    [op] = parse_jsonl(json.dumps(line) + "\n").events
    assert op.revision == 17 and op.index == 0
    with pytest.raises(HistoryFormatError, match='"revision" must be an integer'):
        parse_jsonl(json.dumps({**line, "revision": "17"}) + "\n")
