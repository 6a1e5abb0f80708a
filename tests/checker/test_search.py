"""The search on hand-made histories, including Porcupine's own register examples."""

from __future__ import annotations

from lab.checker import ANY, ILLEGAL, RegisterModel, SearchOp, Verdict, check, search
from lab.checker.search import search_steps
from tests.checker.helpers import ops


def test_porcupine_register_examples() -> None:
    # porcupine_test.go, TestRegisterModel (6.824 2017 quiz 2, section VII).
    good = ops(("w", 100, 0, 100), ("r", 100, 25, 75), ("r", None, 30, 60))
    assert check(RegisterModel(), good).verdict is Verdict.VALID
    bad = ops(("w", 200, 0, 100), ("r", 200, 10, 30), ("r", None, 40, 90))
    assert check(RegisterModel(), bad).verdict is Verdict.INVALID


def test_zero_duration_operations() -> None:
    # TestZeroDuration: touching intervals count as concurrent.
    good = ops(("w", 100, 0, 100), ("r", 100, 25, 75), ("r", None, 30, 30), ("r", None, 30, 30))
    assert check(RegisterModel(), good).verdict is Verdict.VALID
    bad = ops(("w", 200, 0, 100), ("r", 200, 10, 10), ("r", 200, 10, 10), ("r", None, 40, 90))
    assert check(RegisterModel(), bad).verdict is Verdict.INVALID


def test_real_time_order_is_respected() -> None:
    # write 1 completes before write 2 starts; a later read must not see 1.
    h = ops(("w", 1, 0, 1), ("w", 2, 2, 3), ("r", 1, 4, 5))
    result = check(RegisterModel(), h)
    assert result.verdict is Verdict.INVALID
    cx = result.invalid[0].counterexample
    assert cx is not None and cx.culprit == 2 and cx.prefix == (0, 1)
    assert cx.state_after_prefix == "2"


def test_unknown_writes_may_or_may_not_happen() -> None:
    maybe = ops(("w", 1, 0, None), ("r", None, 1, 2), ("r", 1, 3, 4), ("r", 1, 5, 6))
    assert check(RegisterModel(), maybe).verdict is Verdict.VALID
    never = ops(("w", 1, 0, None), ("r", None, 1, 2))
    assert check(RegisterModel(), never).verdict is Verdict.VALID
    # ...but once it happened it cannot un-happen.
    flip = ops(("w", 1, 0, None), ("r", 1, 1, 2), ("r", None, 3, 4))
    assert check(RegisterModel(), flip).verdict is Verdict.INVALID


def test_interchangeable_unknown_writes() -> None:
    # Two unknown writes of the same value: each read of 1 needs one of them after a write 2.
    h = ops(
        ("w", 1, 0, None), ("w", 1, 0, None), ("w", 2, 1, 2), ("r", 1, 3, 4),
        ("w", 2, 5, 6), ("r", 1, 7, 8),
    )  # fmt: skip
    assert check(RegisterModel(), h).verdict is Verdict.VALID
    third = ops(
        ("w", 1, 0, None), ("w", 1, 0, None), ("w", 2, 1, 2), ("r", 1, 3, 4),
        ("w", 2, 5, 6), ("r", 1, 7, 8), ("w", 2, 9, 10), ("r", 1, 11, 12),
    )  # fmt: skip
    assert check(RegisterModel(), third).verdict is Verdict.INVALID


def test_cas() -> None:
    h = ops(("w", 1, 0, 1), ("c", [1, 2], 2, 3), ("r", 2, 4, 5))
    assert check(RegisterModel(), h).verdict is Verdict.VALID
    wrong = ops(("w", 1, 0, 1), ("c", [3, 2], 2, 3))
    assert check(RegisterModel(), wrong).verdict is Verdict.INVALID
    absent = ops(("c", [None, 5], 0, 1), ("r", 5, 2, 3))
    assert check(RegisterModel(), absent).verdict is Verdict.VALID


def test_search_from_any_state() -> None:
    step_read = RegisterModel().compile(ops(("r", 7, 0, 1))[0])
    assert step_read is not None
    assert step_read(ANY) == 7 and step_read(7) == 7 and step_read(3) is ILLEGAL
    res = search([SearchOp(0, 1, step_read)], ANY)
    assert res.outcome == "valid"


def test_empty_and_all_unknown() -> None:
    assert search([], None).outcome == "valid"
    h = ops(("w", 1, 0, None), ("w", 2, 1, None))
    assert check(RegisterModel(), h).verdict is Verdict.VALID


def test_search_steps_can_be_abandoned() -> None:
    # Many concurrent writes and an impossible read: lots of work, abandoned after a slice.
    n = 14
    h = ops(*[("w", i, 0, 100) for i in range(n)], ("r", -1, 101, 102))
    model = RegisterModel()
    sops = [SearchOp(o.call, o.ret, model.compile(o)) for o in h]  # type: ignore[arg-type]
    gen = search_steps(sops, None, slice_steps=8)
    next(gen)
    try:
        gen.send(True)
    except StopIteration as done:
        assert done.value.outcome == "timeout"
    else:  # pragma: no cover
        raise AssertionError("the search did not stop")
