"""The smallest failing window really fails on its own, and is minimal."""

from __future__ import annotations

from lab.checker import RegisterModel, Verdict, check
from lab.checker.explain import _fails, _window_ops, smallest_window
from tests.checker.helpers import ops


def test_window_is_local_to_the_violation() -> None:
    # A long valid prefix of sequential writes and reads, then a stale read.
    specs: list[tuple[object, ...]] = []
    t = 0
    for i in range(30):
        specs += [("w", i, t, t + 1), ("r", i, t + 2, t + 3)]
        t += 4
    specs += [("w", 100, t, t + 1), ("r", 29, t + 2, t + 3)]
    h = ops(*specs)
    result = check(RegisterModel(), h)
    assert result.verdict is Verdict.INVALID
    cx = result.invalid[0].counterexample
    assert cx is not None and cx.window_minimal
    assert cx.window == (60, 61)  # write 100, then the read of 29
    assert cx.culprit == 61 and len(cx.prefix) == 61


def test_window_fails_alone_and_no_smaller_cut_does() -> None:
    h = ops(
        ("w", 1, 0, 10), ("w", 2, 5, 15), ("r", 2, 16, 17), ("r", 1, 18, 19), ("w", 3, 20, 21),
    )  # fmt: skip
    model = RegisterModel()
    ids, minimal = smallest_window(model, h)
    # read 2 then read 1 with no write between: impossible from any state.
    assert minimal and ids == [2, 3]
    assert _fails(model, _window_ops(h, 19, 16), None)  # from ANY: the writes were dropped
    # Cutting the start any later, or the end any earlier, loses the violation.
    assert not _fails(model, _window_ops(h, 19, 18), None)
    assert not _fails(model, _window_ops(h, 17, 16), None)
