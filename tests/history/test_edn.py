"""EDN: the reader/writer subset, Jepsen EDN histories, and the JSONL -> EDN round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.history import HistoryFormatError, Op, parse_edn_history, to_edn
from lab.history.edn import Keyword, dumps, loads
from tests.history.test_jsonl import events


def test_loads_the_subset_histories_use() -> None:
    m = loads('{:process 0, :type :invoke, :f :cas, :value [1 4], :s "a\\"b", :t #inst "2020"}')
    assert m == {
        "process": 0,
        "type": "invoke",
        "f": "cas",
        "value": [1, 4],
        "s": 'a"b',
        "t": "2020",
    }
    assert isinstance(m["type"], Keyword) and repr(m["type"]) == ":invoke"
    assert loads("[nil true false 1N -2 3.5 #{2 1} (1 2) \\a]") == [
        None, True, False, 1, -2, 3.5, [1, 2], [1, 2], "a",
    ]  # fmt: skip
    assert loads("{:a #_ :ignored 1}") == {"a": 1}


@pytest.mark.parametrize(
    "text", ["{:a 1", "{:a}", "[1 2))", "1 2", "", '"open', "{:a 1} {:b 2}", "12x"]
)
def test_loads_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)


def test_dumps() -> None:
    assert dumps({"a": [1, None, True, 2.5, "x"]}) == '{"a" [1 nil true 2.5 "x"]}'
    assert dumps(Keyword("timed-out")) == ":timed-out"


def test_jepsen_edn_history() -> None:
    text = """
{:process 0, :type :invoke, :f :read, :value nil, :time 10, :index 0}
{:process 0, :type :ok, :f :read, :value 3, :time 20, :index 1}
; a comment
{:process :nemesis, :type :info, :f :start, :value nil}
{:process 1, :type :invoke, :f :write, :key "k", :value 2}
"""
    h = parse_edn_history(text, source="h.edn")
    assert [e.type for e in h.events] == ["invoke", "ok", "info", "invoke"]
    assert h.events[1].value == 3 and h.events[1].time == 20
    assert h.events[2].process == "nemesis" and h.events[2].is_nemesis
    assert h.events[3].key == "k" and h.events[3].index == 3
    assert h.lines == [2, 3, 5, 6]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{:process 0, :type :invoke}", ":f must be a keyword"),
        ("{:process 0, :type :begun, :f :read}", ":type must be one of"),
        ("{:process 0.5, :type :ok, :f :read}", ":process must be"),
        ("[1 2]", "expected a map"),
        ("{:process 0, :type :ok, :f :read", "unclosed"),
    ],
)
def test_edn_errors_name_the_line(line: str, message: str) -> None:
    text = "{:process 0, :type :invoke, :f :read, :value nil}\n" + line + "\n"
    with pytest.raises(HistoryFormatError) as err:
        parse_edn_history(text, source="x.edn")
    assert str(err.value).startswith("x.edn:2:") and message in str(err.value)


@settings(max_examples=60, deadline=None)
@given(st.lists(events, max_size=8))
def test_jsonl_to_edn_round_trip(ops: list[Op]) -> None:
    assert parse_edn_history(to_edn(ops)).events == ops


def test_export_of_a_recorded_style_history(tmp_path: Path) -> None:
    ops = [
        Op(0, 0, "invoke", "cas", [None, 1], time=5, key="k1", node="n1"),
        Op(1, 0, "info", "cas", [None, 1], time=9, key="k1", node="n1", error="timeout"),
        Op(2, "nemesis", "info", "start-partition", ["n1", "n2"], time=10),
    ]
    text = to_edn(ops)
    assert text.splitlines()[0] == (
        '{:index 0, :time 5, :process 0, :type :invoke, :f :cas, :key "k1", :value [nil 1], '
        ':node "n1"}'
    )
    assert ":process :nemesis" in text.splitlines()[2]
    assert parse_edn_history(text).events == ops


def _same(a: object, b: object) -> bool:
    """Equal, and of the same types all the way down (Keyword vs str matters)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return (
            list(map(type, a)) == list(map(type, b))
            and a.keys() == b.keys()
            and all(_same(a[k], b[k]) for k in a)
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


_names = st.from_regex(r"[A-Za-z][A-Za-z0-9.\-]{0,6}", fullmatch=True)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    _names.map(Keyword),
    st.text(max_size=8),
    st.lists(st.one_of(st.none(), st.integers(-99, 99)), max_size=4),
    st.floats(allow_nan=False),  # not in the fast path: must fall back
    st.sampled_from([Keyword("ns/name"), Keyword("ok?")]),  # likewise
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _scalars), max_size=6), st.sampled_from([", ", " ", ",", "  "]))
def test_fast_path_agrees_with_the_general_reader(
    entries: list[tuple[str, object]], sep: str
) -> None:
    from lab.history.edn import _fast_map

    line = "{" + sep.join(f":{k} {dumps(v)}" for k, v in entries) + "}"
    fast = _fast_map(line)
    if fast is not None:
        assert _same(fast, loads(line)), line


@pytest.mark.parametrize(
    "line",
    ["{:a 1N}", "{:a 1.5}", "{:a :b/c}", "{:a nilly}", "{:a 1} ; c", "{:a [1 [2]]}", '{:a "x"b}'],
)
def test_fast_path_leaves_the_rest_to_the_general_reader(line: str) -> None:
    from lab.history.edn import _fast_map

    assert _fast_map(line) is None
