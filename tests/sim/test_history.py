"""History lines follow the lab's JSONL format; the trace hashes what it logs."""

from __future__ import annotations

import json

from aspen.sim.history import History, Trace

FIELDS = ["index", "time", "process", "type", "f", "key", "value", "node", "error"]


def test_ops_and_nemesis_events_are_json_lines_in_format_order() -> None:
    h = History()
    h.op(10, 0, "invoke", "cas", "k1", [None, "v1"], "n2")
    h.nemesis(20, "start-partition", "isolate 1")
    h.op(30, 0, "fail", "cas", "k1", [None, "v1"], "n2", "cas-mismatch")
    lines = [json.loads(line) for line in h.to_jsonl().splitlines()]
    assert list(lines[0]) == FIELDS
    assert lines[0]["value"] == [None, "v1"] and lines[0]["error"] is None
    assert lines[1] == {
        "index": 1,
        "time": 20,
        "process": "nemesis",
        "type": "info",
        "f": "start-partition",
        "value": "isolate 1",
    }
    assert [e["index"] for e in lines] == [0, 1, 2]
    assert [e["index"] for e in h.client_events()] == [0, 2]


def test_trace_digest_depends_on_content_not_on_keeping_lines() -> None:
    a, b, c = Trace(keep=True), Trace(keep=False), Trace()
    for t in (a, b, c):
        t.log(1, "x")
    c.log(2, "y")
    assert a.digest() == b.digest() != c.digest()
    assert a.lines == ["             1 x\n"] and b.lines == []
