"""The EDN reader on every layout Jepsen and Knossos write, and the writer round trip.

Hand-written files under tests/data/edn/ hold one history per layout (a pretty-printed Knossos
vector, Jepsen's ``#jepsen.history.Op`` records, maps spread over lines with nested values,
one flat map per line); Hypothesis checks that ``to_edn`` then reading is the identity in every
layout, and that a syntax error anywhere names its line and column.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.checker import Verdict, check, model_for
from lab.cli import main
from lab.history import HistoryFormatError, Op, parse_edn_history, read_history, to_edn
from lab.history.edn import LAYOUTS
from lab.history.edn_syntax import EdnSyntaxError, Keyword, Symbol, dumps, loads
from lab.history.formats import detect_format

DATA = Path(__file__).resolve().parents[1] / "data" / "edn"


def test_knossos_vector_pretty_printed() -> None:
    h = read_history(DATA / "knossos-vector.edn")
    assert h.format == "edn"
    assert [(e.process, e.type, e.f) for e in h.events][4:6] == [
        (2, "invoke", "cas"), (2, "info", "cas"),
    ]  # fmt: skip
    assert h.events[5].error == "timeout" and isinstance(h.events[5].error, Keyword)
    assert h.lines == [3, 4, 5, 6, 7, 11, 16, 17]  # the line each map opens on
    assert check(model_for(None, h), h).verdict is Verdict.VALID


def test_jepsen_history_records() -> None:
    h = read_history(DATA / "jepsen-history.edn")
    assert [e.index for e in h.events] == list(range(10))
    partition = h.events[4]
    assert partition.is_nemesis and partition.value["n1"] == ["n4", "n5"]
    assert h.events[6].error == [
        "timeout", {"indeterminate?": True, "at": "2026-12-03T17:05:34.000-00:00"},
    ]  # fmt: skip
    # the cas with an unknown outcome took effect: the read of 4 is explained by it
    assert check(model_for(None, h), h).verdict is Verdict.VALID


def test_jepsen_maps_spread_over_lines() -> None:
    h = read_history(DATA / "jepsen-pretty.edn")
    assert [e.index for e in h.events] == [0, 1, 2, 3]  # the #_ discarded op is gone
    assert h.lines == [3, 10, 18, 24]
    assert check(model_for(None, h), h).verdict is Verdict.VALID


def test_one_map_per_line() -> None:
    h = read_history(DATA / "one-per-line.edn")
    assert [e.key for e in h.events] == ["k1"] * 4 and h.lines == [1, 2, 3, 4]


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.edn")))
def test_every_layout_is_detected_as_edn(name: str) -> None:
    assert detect_format((DATA / name).read_text()) == "edn"


def test_the_reader_takes_all_of_edn() -> None:
    assert loads("##Inf") == math.inf and math.isnan(loads("[##NaN]")[0])
    assert loads("#:jepsen{:a 1, :b/c 2}") == {"jepsen/a": 1, "b/c": 2}
    assert loads(r"[\a \newline \u0041 \space]") == ["a", "\n", "A", " "]
    assert loads('#inst "2020-01-01"') == "2020-01-01"
    assert loads('#uuid "8c2f8b2e-1d4e-4f7b-9a3c-5d6e7f8a9b0c"').startswith("8c2f")
    assert loads("#my.ns/Rec {:a #{3 1 2}}") == {"a": [1, 2, 3]}
    assert loads('{:s "two\nlines"}') == {"s": "two\nlines"}
    assert loads("(1 #_ 2 #_ #_ 3 4 5) ; trailing comment") == [1, 5]
    assert loads("{[1 2] :v, {:k 1} :w}") == {(1, 2): "v", (("k", 1),): "w"}
    assert loads("[:a/b foo 1/2 -3.5e2 7M]") == ["a/b", Symbol("foo"), 0.5, -350.0, 7.0]


EV = "{:process 0, :type :invoke, :f :read}"


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("[{:a 1}\n {:b 2\n", 2, 2, "unclosed '{'"),
        ("[{:a 1}\n {:b 2]}", 2, 7, "'{' closed by ']'"),
        (EV + '\n\n  {:b "x\\q"}', 3, 7, "bad string escape"),
        (EV + "\n {:b 12x}", 2, 6, "malformed number"),
        (EV + "\n}", 2, 1, "unexpected '}'"),
        ("{:a 1 :b}", 1, 1, "even number"),
    ],
)
def test_syntax_errors_know_line_and_column(
    text: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(HistoryFormatError) as err:
        parse_edn_history(text, source="h.edn")
    assert (err.value.line, err.value.column) == (line, column), str(err.value)
    assert message in str(err.value)
    assert str(err.value).startswith(f"h.edn:{line}:{column}: ")


def test_an_op_that_is_no_event_names_its_line() -> None:
    text = "[{:process 0, :type :invoke, :f :read}\n\n {:process 0,\n  :type :begun}]"
    with pytest.raises(HistoryFormatError) as err:
        parse_edn_history(text, source="h.edn")
    assert str(err.value).startswith("h.edn:3: ") and ":type must be one of" in str(err.value)


def test_a_top_level_vector_must_be_alone() -> None:
    with pytest.raises(HistoryFormatError, match="after the history's top-level"):
        parse_edn_history("[{:process 0, :type :invoke, :f :read}]\n[]")
    with pytest.raises(EdnSyntaxError):
        loads("[1] [2]")


# --- the writer round trip --------------------------------------------------------------------

_names = st.from_regex(r"[a-z][a-z0-9\-]{0,5}", fullmatch=True)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | _names.map(Keyword)
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_events = st.builds(
    Op,
    index=st.integers(0, 10**6),
    process=st.integers(0, 50) | st.just("nemesis") | _names,
    type=st.sampled_from(["invoke", "ok", "fail", "info"]),
    f=st.sampled_from(["read", "write", "cas", "add", "start-partition", "odd name"]),
    value=_values,
    time=st.none() | st.integers(0, 10**12),
    key=st.none() | st.text(max_size=3) | st.integers(0, 9),
    node=st.none() | st.sampled_from(["n1", "n2"]),
    error=st.none() | _values,
    revision=st.none() | st.integers(0, 10**9),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_events, max_size=8), st.sampled_from(LAYOUTS))
def test_to_edn_then_read_is_the_identity_in_every_layout(ops: list[Op], layout: str) -> None:
    text = to_edn(ops, layout=layout)  # type: ignore[arg-type]
    h = parse_edn_history(text)
    assert h.events == ops
    assert len(set(h.lines or [])) == len(ops)  # every event on a line of its own


@settings(max_examples=100, deadline=None)
@given(_values)
def test_dumps_then_loads_is_the_identity(value: object) -> None:
    assert loads(dumps(value)) == value


def test_vector_layout_spreads_maps_over_lines() -> None:
    ops = [Op(0, 0, "invoke", "write", {"a": [1, 2]}), Op(1, 0, "ok", "write", {"a": [1, 2]})]
    text = to_edn(ops, layout="vector")
    assert text.startswith("[{:index 0,\n") and text.count("\n") > 8
    assert to_edn(ops, layout="tagged").startswith("#jepsen.history.Op{:index 0, ")


def test_export_round_trips_through_the_cli(tmp_path: Path) -> None:
    src = DATA / "knossos-vector.edn"
    out = tmp_path / "out.edn"
    assert main(["export", str(src), "--edn", "-o", str(out)]) == 0
    assert read_history(out).events == read_history(src).events
