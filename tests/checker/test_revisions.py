"""Revision-guided checking (`lab.checker.revisions`): histories whose revisions and values
agree check valid; revisions that contradict real time or the model are invalid with a reason
that says so; without revisions the search gives the same verdict."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lab.checker import KVModel, RegisterModel, Verdict, check
from lab.checker.revisions import check_by_revisions
from lab.history.op import Op, Operation
from lab.history.pairing import pair
from lab.history.simulate import simulate
from tests.checker.helpers import op
from tests.checker.strategies import MUTATIONS, candidates, mutate, plans

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)
KV = dict(fs=("read", "write", "cas", "delete", "append"), keys=("a", "b"), string_values=True)


def _strip(events: list[Op]) -> list[Op]:
    return [replace(e, revision=None) for e in events]


def _ok(ops: list[Operation], f: str) -> list[Operation]:
    return [o for o in ops if o.f == f and o.revision is not None]


def _set_revision(events: list[Op], target: Operation, revision: int) -> list[Op]:
    out = list(events)
    assert target.complete_index is not None
    out[target.complete_index] = replace(out[target.complete_index], revision=revision)
    return out


def _reason(events: list[Op], *culprits: Operation) -> str:
    """The counterexample's message; one of ``culprits`` must be among the operations it
    names."""
    result = check(KVModel(), events, timeout=20, workers=1)
    assert result.verdict is Verdict.INVALID, result.summary()
    cx = result.invalid[0].counterexample
    assert cx is not None and {c.id for c in culprits} & set(cx.window)
    return cx.message


@SETTINGS
@given(plans(max_slots=5, max_ops=40))
def test_register_histories_with_revisions_are_valid(plan: Any) -> None:
    result = check(RegisterModel(), simulate(plan, revisions=True), timeout=20, workers=1)
    assert result.verdict is Verdict.VALID, result.summary()


@SETTINGS
@given(plans(**KV, max_slots=5, max_ops=40))
def test_kv_histories_with_revisions_are_valid(plan: Any) -> None:
    result = check(KVModel(), simulate(plan, revisions=True), timeout=20, workers=1)
    assert result.verdict is Verdict.VALID, result.summary()


@SETTINGS
@given(st.sampled_from(("valid", *MUTATIONS)), plans(min_ops=4, max_ops=24, max_slots=3), st.data())
def test_without_revisions_the_verdict_is_the_searchs(kind: str, plan: Any, data: Any) -> None:
    events = simulate(plan, revisions=True)
    if kind != "valid":
        targets = candidates(kind, events)
        assume(targets)
        events = mutate(kind, events, data.draw(st.sampled_from(targets)))
    with_revisions = check(RegisterModel(), events, timeout=20, workers=1).verdict
    searched = check(RegisterModel(), _strip(events), timeout=20, workers=1).verdict
    assert with_revisions is searched
    assert with_revisions is (Verdict.VALID if kind == "valid" else Verdict.INVALID)


@SETTINGS
@given(plans(fs=("read", "write"), min_ops=4, max_ops=30, max_slots=4), st.data())
def test_swapped_write_revisions_are_invalid(plan: Any, data: Any) -> None:
    events = simulate(plan, revisions=True)
    writes = _ok(pair(events), "write")
    pairs = [(a, b) for a in writes for b in writes if a.ret is not None and a.ret < b.call]
    assume(pairs)
    a, b = data.draw(st.sampled_from(pairs))
    assert a.revision is not None and b.revision is not None
    bad = _set_revision(_set_revision(events, a, b.revision), b, a.revision)
    assert "Revisions contradict real time" in _reason(bad, a, b)


@SETTINGS
@given(
    st.sampled_from(("stale", "future")),
    plans(fs=("read", "write"), min_ops=4, max_ops=30, max_slots=4),
    st.data(),
)
def test_a_read_revision_against_real_time_is_invalid(kind: str, plan: Any, data: Any) -> None:
    """``stale``: a read served before a write that completed before it began; ``future``: a
    read that saw a write invoked after it returned."""
    events = simulate(plan, revisions=True)
    ops = pair(events)
    pairs = [
        (w, r)
        for w in _ok(ops, "write")
        for r in _ok(ops, "read")
        if (w.ret is not None and w.ret < r.call) == (kind == "stale")
        and (kind == "stale" or (r.ret is not None and r.ret < w.call))
    ]
    assume(pairs)
    w, r = data.draw(st.sampled_from(pairs))
    assert w.revision is not None
    revision = w.revision - 1 if kind == "stale" else w.revision
    assert "Revisions contradict real time" in _reason(_set_revision(events, r, revision), r)


def test_values_against_the_revisions_name_the_impossible_step() -> None:
    ops = [
        replace(op(0, "w", 1, 0, 1), revision=1),
        replace(op(1, "w", 2, 2, 3), revision=2),
        replace(op(2, "r", 1, 4, 5), revision=2),  # served at 2, read what 1 wrote
    ]
    result = check_by_revisions(RegisterModel(), None, ops)
    assert result is not None and result.verdict is Verdict.INVALID
    cx = result.counterexample
    assert cx is not None and cx.culprit == 2 and cx.window == (1, 2)
    assert "is impossible: the key holds 2 (after op #1 at revision 2)" in cx.message


def test_two_writes_at_one_revision_are_invalid() -> None:
    ops = [replace(op(0, "w", 1, 0, 1), revision=3), replace(op(1, "w", 2, 0, 1), revision=3)]
    result = check_by_revisions(RegisterModel(), None, ops)
    assert result is not None and result.counterexample is not None
    assert "both changed the key at revision 3" in result.counterexample.message


def test_an_unknown_write_explains_a_read_between_revisions() -> None:
    # The unknown write (no revision) must fall between revisions 1 and 3 for the read.
    ops = [
        replace(op(0, "w", 1, 0, 1), revision=1),
        op(1, "w", 7, 2, None),
        replace(op(2, "r", 7, 5, 6), revision=3),
        replace(op(3, "w", 2, 7, 8), revision=4),
        replace(op(4, "r", 2, 9, 10), revision=4),
    ]
    assert check(RegisterModel(), ops).verdict is Verdict.VALID
    # Used once, it cannot explain a second read of 7 after the write of 2.
    late = [*ops, replace(op(5, "r", 7, 11, 12), revision=5)]
    assert check(RegisterModel(), late).verdict is Verdict.INVALID
    # Without revisions the search agrees on both.
    plain = [replace(o, revision=None) for o in late]
    assert check(RegisterModel(), plain).verdict is Verdict.INVALID
    assert check(RegisterModel(), plain[:-1]).verdict is Verdict.VALID


def test_no_revision_leaves_it_to_the_search() -> None:
    assert check_by_revisions(RegisterModel(), None, [op(0, "w", 1, 0, 1)]) is None


def test_the_reasons_say_which_order_real_time_contradicts() -> None:
    w1, w2 = replace(op(0, "w", 1, 0, 1), revision=1), replace(op(1, "w", 2, 2, 3), revision=2)
    stale = replace(op(2, "r", 1, 4, 5), revision=1)  # served before w2, begun after it
    early = replace(op(3, "r", 2, 0, 1), revision=2)  # saw w2, returned before it began
    swapped = [replace(w1, revision=2), replace(w2, revision=1)]
    reasons = {
        "stale": (w1, w2, stale),
        "future": (w1, w2, early),
        "swapped": tuple(swapped),
    }
    got = {}
    for name, ops in reasons.items():
        result = check_by_revisions(RegisterModel(), None, ops)
        assert result is not None and result.counterexample is not None
        got[name] = result.counterexample.message
    assert "older than a write that completed before it" in got["stale"]
    assert "invoked after it returned" in got["future"]
    assert "a write committed at 1, before one that had completed at 2" in got["swapped"]
