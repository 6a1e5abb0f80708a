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


def test_a_long_check_hands_unfinished_partitions_to_workers(monkeypatch: Any) -> None:
    import importlib
    import random

    from lab.history.pairing import pair
    from lab.history.simulate import random_plan, simulate

    events = simulate(random_plan(random.Random(5), 9000, n_keys=3, n_slots=6, unknown=0.0))
    end = max(e.time or 0 for e in events) + 10
    bad = [  # a read of a value never written, after everything else: key 0 is invalid
        Op(len(events), 99, "invoke", "read", None, time=end, key=0),
        Op(len(events) + 1, 99, "ok", "read", 12345, time=end + 1, key=0),
    ]
    check_mod = importlib.import_module("lab.checker.check")  # the name `check` is the function
    handed: list[list[Any]] = []
    real = check_mod._check_parallel

    def spy(model: Any, parts: dict[Any, Any], *args: Any) -> Any:
        handed.append(sorted(parts, key=repr))
        return real(model, parts, *args)

    monkeypatch.setattr(check_mod, "HANDOFF_S", 0.0)
    monkeypatch.setattr(check_mod, "_check_parallel", spy)
    monkeypatch.setattr(check_mod.os, "cpu_count", lambda: 2)
    valid = check(KVModel(), pair(events))
    assert valid.verdict is Verdict.VALID and handed and len(handed[0]) >= 2
    invalid = check(KVModel(), pair(events + bad), fail_fast=False)
    serial = check(KVModel(), pair(events + bad), workers=1, fail_fast=False)
    assert invalid.verdict is serial.verdict is Verdict.INVALID
    assert [p.key for p in invalid.invalid] == [0]
    assert invalid.invalid[0].counterexample == serial.invalid[0].counterexample


def test_a_compare_failure_is_an_observation() -> None:
    # The register surely held 1 for the whole of the cas's interval: its compare cannot fail.
    held = ops(("w", 1, 0, 1), ("cf", [1, 5], 2, 3), ("r", 1, 4, 5))
    result = check(RegisterModel(), held)
    assert result.verdict is Verdict.INVALID
    [part] = result.invalid
    assert part.counterexample is not None and part.counterexample.culprit in (1, 2)
    # A write of 2 overlaps the cas: the compare may have seen 2.
    maybe = ops(("w", 1, 0, 1), ("cf", [1, 5], 2, 5), ("w", 2, 3, 4))
    assert check(RegisterModel(), maybe).verdict is Verdict.VALID
    # An old history's failed cas is dropped: what it says is not checked.
    events = [Op(0, 0, "invoke", "write", 1), Op(1, 0, "ok", "write", 1)]
    events += [Op(2, 1, "invoke", "cas", [1, 5]), Op(3, 1, "fail", "cas", [1, 5])]
    assert check(RegisterModel(), events).verdict is Verdict.VALID
    events[3] = Op(3, 1, "ok", "cas", False)
    assert check(RegisterModel(), events).verdict is Verdict.INVALID
