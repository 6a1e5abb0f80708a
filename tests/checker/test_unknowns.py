"""Unknown outcomes: many ``info`` writes must end in a verdict, or an honest unknown within the
time budget — never a pass."""

from __future__ import annotations

import time

from lab.checker import RegisterModel, Verdict, check
from lab.history.op import Operation
from tests.checker.helpers import ops

N = 40


def many_info_writes(*, impossible_tail: bool) -> list[Operation]:
    """N concurrent unknown writes; each value later read once, right after a known write
    hides it. With ``impossible_tail`` a final read needs one of them a second time."""
    specs: list[tuple[object, ...]] = [("w", i, 0, None) for i in range(N)]
    t = 10
    order = [(7 * i) % N for i in range(N)]
    for v in order:
        specs += [("w", 1000 + v, t, t + 1), ("r", v, t + 2, t + 3)]
        t += 4
    if impossible_tail:
        specs.append(("r", order[0], t, t + 1))
    return ops(*specs)


def test_many_info_writes_valid() -> None:
    result = check(RegisterModel(), many_info_writes(impossible_tail=False), timeout=20)
    assert result.verdict is Verdict.VALID


def test_many_info_writes_invalid_within_a_small_budget() -> None:
    budget = 1.0
    t0 = time.monotonic()
    result = check(RegisterModel(), many_info_writes(impossible_tail=True), timeout=budget)
    elapsed = time.monotonic() - t0
    assert elapsed < budget + 3.0  # slices are short; the slack is for a loaded machine
    # A verdict, or an honest unknown if the machine is very slow: never a pass.
    assert result.verdict in (Verdict.INVALID, Verdict.UNKNOWN)


def test_a_search_too_big_for_the_budget_is_an_honest_unknown() -> None:
    # 18 concurrent writes, then reads of 0 and of 1: proving that no order ends in 0 and
    # still lets 1 be read means trying every order that ends in 0 (2^17 configurations),
    # far more than 0.3 s allows.
    n = 18
    h = ops(*[("w", i, 0, 100) for i in range(n)], ("r", 0, 101, 102), ("r", 1, 103, 104))
    budget = 0.3
    t0 = time.monotonic()
    result = check(RegisterModel(), h, timeout=budget)
    assert time.monotonic() - t0 < budget + 3.0
    assert result.verdict is Verdict.UNKNOWN
    [part] = result.unknown
    assert "time budget exhausted" in part.reason
    assert result.summary().startswith("UNKNOWN")


def test_unknown_reads_are_dropped() -> None:
    h = ops(("w", 1, 0, 1), ("r", None, 2, None), ("r", 1, 3, 4))
    result = check(RegisterModel(), h)
    assert result.verdict is Verdict.VALID
