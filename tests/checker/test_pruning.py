"""The search's pruning rules, each alone, and the whole search against brute force.

Brute force: every subset of the unknown operations (an unknown one may never have happened)
in every order that respects real time, stepped through the model; a history is linearizable
iff one of them is legal. Hypothesis draws tiny histories (any intervals, any outputs, so
most are invalid) and both candidate orders of the search must give the same answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.checker import KVModel, RegisterModel
from lab.checker.model import ILLEGAL
from lab.checker.pruning import Dominance, blind_pointless, doomed, steer, symmetry_blocked
from lab.checker.search import ordered_search_steps, search
from lab.checker.timeline import SearchOp, Timeline
from lab.history.op import Operation
from tests.checker.helpers import ops


def compiled(model: RegisterModel, history: Sequence[Operation]) -> list[SearchOp]:
    return [sop for o in history if (sop := model.lower(o)) is not None]


def brute_force(sops: Sequence[SearchOp], init: Any) -> bool:
    unknown = [i for i, o in enumerate(sops) if o.ret is None]
    known = [i for i, o in enumerate(sops) if o.ret is not None]
    for r in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, r):
            for order in itertools.permutations(known + list(chosen)):
                if _respects_real_time(sops, order) and _legal(sops, order, init):
                    return True
    return False


def _respects_real_time(sops: Sequence[SearchOp], order: Sequence[int]) -> bool:
    for a, b in itertools.combinations(order, 2):  # a placed before b
        ret_b = sops[b].ret
        if ret_b is not None and ret_b < sops[a].call:
            return False
    return True


def _legal(sops: Sequence[SearchOp], order: Sequence[int], init: Any) -> bool:
    state = init
    for i in order:
        state = sops[i].step(state)
        if state is ILLEGAL:
            return False
    return True


def _run(sops: Sequence[SearchOp], init: Any, *, eager: bool) -> str:
    gen = ordered_search_steps(sops, init, slice_steps=1, eager=eager)
    try:
        while True:
            next(gen)
    except StopIteration as done:
        return str(done.value.outcome)


_specs = st.lists(
    st.tuples(
        st.sampled_from(["w", "r", "c", "d"]),
        st.integers(0, 2),  # value (a cas: [value, value + 1])
        st.integers(0, 6),  # call
        st.integers(0, 4),  # duration
        st.integers(0, 5),  # 0: unknown outcome
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(_specs, st.sampled_from([None, 0]))
def test_search_agrees_with_brute_force(specs: list[tuple[Any, ...]], absent: Any) -> None:
    model = KVModel(absent=absent)
    history = ops(
        *[
            (f, ([v, v + 1] if f == "c" else None if f == "d" else v), call,
             None if not known else call + dur)
            for f, v, call, dur, known in specs
        ]
    )  # fmt: skip
    sops = compiled(model, history)
    want = "valid" if brute_force(sops, model.init()) else "invalid"
    assert search(sops, model.init()).outcome == want
    assert _run(sops, model.init(), eager=True) == want
    assert _run(sops, model.init(), eager=False) == want


# --- each rule alone ----------------------------------------------------------------------------


def _timeline(*specs: tuple[Any, ...]) -> tuple[Timeline, list[SearchOp]]:
    sops = compiled(RegisterModel(), ops(*specs))
    return Timeline.build(sops), sops


def test_symmetry_places_interchangeable_unknown_ops_in_call_order() -> None:
    tl, _ = _timeline(("w", 1, 0, None), ("w", 1, 1, None), ("w", 2, 2, None), ("r", 1, 3, 4))
    first, second, other = (tl.call_pos[i] for i in range(3))
    assert not symmetry_blocked(tl, first, 0)
    assert symmetry_blocked(tl, second, 0)  # the same write(1), called later: wait
    assert not symmetry_blocked(tl, second, tl.bits[first])
    assert not symmetry_blocked(tl, other, 0)  # write(2) is another effect


def test_blind_rule_only_after_a_pending_op() -> None:
    tl, _ = _timeline(("w", 1, 0, None), ("c", [1, 2], 0, None), ("r", 2, 3, 4))
    write, cas = tl.call_pos[0], tl.call_pos[1]
    assert blind_pointless(tl, write, after_pending=True)
    assert not blind_pointless(tl, write, after_pending=False)
    assert not blind_pointless(tl, cas, after_pending=True)  # a cas reads the state


def test_doomed_when_no_operation_can_reset_the_state() -> None:
    tl, _ = _timeline(("r", 5, 0, 2), ("r", 5, 1, 3))
    _, bound = tl.bound()
    assert doomed(tl, 3, bound) == bound  # the read of 5 returning first cannot succeed
    assert doomed(tl, 5, bound) == -1
    tl, _ = _timeline(("w", 5, 0, None), ("r", 5, 1, 3))
    _cands, bound = tl.bound()
    assert doomed(tl, 3, bound) == -1  # the unknown write(5) may still run first


def test_steer_tries_first_what_lets_the_urgent_op_succeed() -> None:
    tl, _sops = _timeline(("w", 1, 0, 9), ("w", 2, 0, 9), ("r", 2, 0, 5))
    cands, bound = tl.bound()
    fc = tl.fcheck[bound]
    assert fc is not None
    ordered = steer(tl, fc, sorted(cands), None, bound)
    assert ordered[0] == tl.call_pos[1]  # write(2) first: then read(2) can go


def test_dominance_prunes_supersets_only_and_keeps_the_smallest() -> None:
    d = Dominance()
    d.record(0b1, "s", 0b0110)
    assert d.prunes(0b1, "s", 0b0110) and d.prunes(0b1, "s", 0b1110)
    assert not d.prunes(0b1, "s", 0b0100)  # fewer pending placed: more choices left
    assert not d.prunes(0b1, "t", 0b1110) and not d.prunes(0b0, "s", 0b1110)
    big = 0b111 << 4
    for plin in (big, 0b11 << 8, 0b11 << 10):
        d.record(0b1, "s", plin)
    d.record(0b1, "s", 0b1)  # full: replaces the largest remembered set
    assert d.prunes(0b1, "s", 0b1) and not d.prunes(0b1, "s", big)


def test_a_race_abandoned_before_the_second_search_started_still_answers() -> None:
    from lab.checker.search import abandon, search_steps

    # 14 concurrent unknown writes, each read later: far more than one step of search.
    history = ops(
        *[("w", i, 0, None) for i in range(14)], *[("r", i, 1 + i, 30) for i in range(14)]
    )
    sops = compiled(RegisterModel(), history)
    gen = search_steps(sops, None, slice_steps=1)
    next(gen)  # only the eager search has run
    result = abandon(gen)
    assert result.outcome == "timeout"
    gen = search_steps(sops, None, slice_steps=1)
    next(gen)
    next(gen)  # both have run
    assert abandon(gen).outcome == "timeout"
