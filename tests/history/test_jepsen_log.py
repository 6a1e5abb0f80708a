"""Jepsen's logged histories (``jepsen.util`` lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.history import HistoryFormatError, parse_jepsen_log, read_history

ETCD = Path(__file__).parents[1] / "data/jepsen-etcd"

LOG = """\
2017-01-01 INFO  jepsen.core - Running test
INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 0\t:ok\t:read\tnil
INFO  jepsen.util - 3\t:fail\t:cas\t[1 4]
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:fail\t:read\t:timed-out
INFO  jepsen.util - 2\t:invoke\t:write\t2
INFO  jepsen.util - 2\t:info\t:write\t:timed-out
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
something else entirely
INFO  jepsen.util - 4 :invoke :write 3
"""


def test_parses_every_kind_of_line() -> None:
    h = parse_jepsen_log(LOG, source="run.log")
    assert len(h.events) == 10
    assert h.lines == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    cas = h.events[0]
    assert (cas.process, cas.type, cas.f, cas.value) == (3, "invoke", "cas", [1, 4])
    assert h.events[2].value is None and h.events[2].type == "ok"
    assert h.events[3].outcome == "compare_failed"  # :fail :cas [1 4]
    timed_out = h.events[5]
    assert timed_out.type == "fail" and timed_out.value is None and timed_out.error == "timed-out"
    assert h.events[7].type == "info" and h.events[7].error == "timed-out"
    assert h.events[8].process == "nemesis" and h.events[8].f == "start"
    assert h.events[9].value == 3  # spaces instead of tabs are accepted
    ops = h.operations()
    assert [(o.f, o.unknown) for o in ops] == [
        ("cas", False), ("read", False), ("write", True), ("write", True),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("INFO  jepsen.util - x\t:invoke\t:read\tnil", "process must be"),
        ("INFO  jepsen.util - 1\t:started\t:read\tnil", "type must be one of"),
        ("INFO  jepsen.util - 1\t:invoke\t:read\t[1 2", "unclosed"),
        ("INFO  jepsen.util -", "expected"),
    ],
)
def test_errors_name_the_line(line: str, message: str) -> None:
    with pytest.raises(HistoryFormatError) as err:
        parse_jepsen_log("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n" + line, source="l.log")
    assert str(err.value).startswith("l.log:2: ") and message in str(err.value)


def test_porcupine_etcd_log() -> None:
    h = read_history(ETCD / "etcd_000.log")
    assert h.format == "jepsen-log" and len(h.events) == 170
    ops = h.operations()
    assert len(ops) == 85  # the 20 :fail :cas are compare failures, which stay
    assert sum(o.compare_failed for o in ops) == 20
    assert sum(o.unknown for o in ops) == 16  # the :info (timed-out) writes and cas


def test_a_failed_cas_with_its_values_is_a_compare_failure() -> None:
    h = parse_jepsen_log(
        "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n"
        "INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n"
        "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n"
        "INFO  jepsen.util - 1\t:fail\t:cas\t:timed-out\n"
    )
    assert [(e.type, e.value, e.outcome) for e in h.events[1::2]] == [
        ("ok", False, "compare_failed"),
        ("fail", None, "fail"),
    ]
    [op] = h.operations()  # the other fail did not happen
    assert op.compare_failed and op.input == [1, 2]
