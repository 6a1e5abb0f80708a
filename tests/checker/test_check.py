"""`check`: partitions, parallel workers, fail-fast, crashes, the result's JSON."""

from __future__ import annotations

import json
from typing import Any

from lab.checker import (
    KVModel,
    Model,
    RegisterModel,
    SetModel,
    Verdict,
    check,
)
from lab.history import Op
from lab.history.op import Operation
from tests.checker.helpers import ops


def keyed_history(bad_keys: set[str]) -> list[Operation]:
    out: list[Operation] = []
    for k in ["a", "b", "c", "d"]:
        read = 9 if k in bad_keys else 2
        out += ops(("w", 1, 0, 1), ("w", 2, 2, 3), ("r", read, 4, 5), key=k)
    return [o.__class__(**{**_fields(o), "id": i}) for i, o in enumerate(out)]


def _fields(o: Operation) -> dict[str, Any]:
    return {f: getattr(o, f) for f in o.__dataclass_fields__}


def test_partitions_by_key_and_fail_fast() -> None:
    result = check(KVModel(), keyed_history({"b", "d"}))
    assert result.verdict is Verdict.INVALID
    assert [p.key for p in result.invalid] == ["b"]
    skipped = [p for p in result.partitions if p.reason.startswith("not checked")]
    assert {p.key for p in skipped} == {"d"} or {p.key for p in skipped} <= {"c", "d"}
    everything = check(KVModel(), keyed_history({"b", "d"}), fail_fast=False)
    assert [p.key for p in everything.invalid] == ["b", "d"]
    assert {p.key for p in everything.partitions if p.verdict is Verdict.VALID} == {"a", "c"}


def test_parallel_workers_agree_with_one_process() -> None:
    h = keyed_history({"c"})
    serial = check(KVModel(), h, fail_fast=False)
    parallel = check(KVModel(), h, workers=2, fail_fast=False)
    assert parallel.verdict is serial.verdict is Verdict.INVALID
    assert [p.key for p in parallel.invalid] == ["c"]
    cx = parallel.invalid[0].counterexample
    assert cx is not None and cx == serial.invalid[0].counterexample
    assert check(KVModel(), keyed_history(set()), workers=2).verdict is Verdict.VALID


def test_events_are_paired_for_you() -> None:
    events = [Op(0, 0, "invoke", "write", 1), Op(1, 0, "ok", "write", 1)]
    events += [Op(2, 1, "invoke", "read", None), Op(3, 1, "ok", "read", 2)]
    assert check(RegisterModel(), events).verdict is Verdict.INVALID


class Exploding(Model[int]):
    name = "exploding"

    def init(self) -> int:
        return 0

    def step(self, state: int, input: Any, output: Any) -> tuple[bool, int]:
        raise RuntimeError("boom")


def test_a_crash_is_unknown_never_a_pass() -> None:
    result = check(Exploding(), ops(("w", 1, 0, 1)))
    assert result.verdict is Verdict.UNKNOWN
    assert "checker crashed: RuntimeError: boom" in result.partitions[0].reason
    unreadable = check(RegisterModel(), ops(("frobnicate", 1, 0, 1)))
    assert unreadable.verdict is Verdict.UNKNOWN
    assert "no operation 'frobnicate'" in unreadable.partitions[0].reason


def test_set_model_through_check() -> None:
    events = [
        Op(0, 0, "invoke", "add", 1, key="s"),
        Op(1, 0, "ok", "add", 1, key="s"),
        Op(2, 1, "invoke", "read", None, key="s"),
        Op(3, 1, "ok", "read", [], key="s"),
    ]
    result = check(SetModel(), events)
    assert result.verdict is Verdict.INVALID
    cx = result.invalid[0].counterexample
    assert cx is not None and cx.lost == (1,) and "lost" in cx.message
    assert check(SetModel(), events[:2]).verdict is Verdict.UNKNOWN  # no read: nothing to check


def test_result_json_and_summary() -> None:
    result = check(KVModel(), keyed_history({"a"}), fail_fast=False)
    data = json.loads(json.dumps(result.to_json()))
    assert data["verdict"] == "invalid" and data["partitions"]["invalid"] == 1
    [bad] = data["invalid"]
    assert bad["key"] == "a" and bad["culprit"] == 2 and bad["window"]
    assert {o["id"] for o in bad["operations"]} >= set(bad["window"])
    text = result.summary()
    assert text.startswith("INVALID") and "cannot be placed" in text and "key 'a'" in text
