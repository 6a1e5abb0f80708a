"""Models: compiled steps agree with `step`; descriptions; the set rule; guessing a model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.checker import (
    ANY,
    ILLEGAL,
    KVModel,
    Model,
    ModelError,
    RegisterModel,
    SetModel,
    model_for,
)  # fmt: skip
from lab.checker.models import guess_model
from lab.history import History, Op
from lab.history.op import UNKNOWN, Operation
from tests.checker.helpers import op

values = st.none() | st.integers(-2, 3) | st.sampled_from(["", "a", "ab"])
states = values | st.just(ANY)


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    f = draw(st.sampled_from(["read", "write", "cas", "cf", "delete", "append"]))
    unknown = draw(st.booleans())
    v: Any
    if f in ("cas", "cf"):
        v = [draw(values), draw(values)]
    elif f == "append":
        v = draw(st.sampled_from(["x", "yz"]))
    else:
        v = draw(values)
    return op(0, f, v, 0, None if unknown else 1)


@settings(max_examples=300, deadline=None)
@given(operations(), states)
def test_compiled_steps_agree_with_step(o: Operation, state: Any) -> None:
    model = KVModel()
    compiled = model.compile(o)
    ok, new = model.step(state, model.input(o), model.output(o))
    if compiled is None:  # an unknown read: no constraint, no effect
        assert ok and new is state
        return
    got = compiled(state)
    assert (got is not ILLEGAL) == ok
    if ok:
        assert got == new or (got is ANY and new is ANY)


@settings(max_examples=300, deadline=None)
@given(operations(), st.lists(states, min_size=1, max_size=4))
def test_the_one_pass_lowering_is_the_hooks_lowering(o: Operation, probes: list[Any]) -> None:
    """`RegisterModel.lower` fuses `compile` and the search hooks; `Model.lower` (the default)
    calls them one by one: every field must agree, and the steps and frontier tests must
    answer alike on any state."""
    model = KVModel()
    fused, generic = model.lower(o), Model.lower(model, o)
    if generic is None:
        assert fused is None
        return
    assert fused is not None
    assert fused[:2] == generic[:2] and fused[3:6] == generic[3:6]
    assert fused.read_only == generic.read_only
    assert (fused.frontier is None) == (generic.frontier is None)
    for s in probes:
        a, b = fused.step(s), generic.step(s)
        assert a == b or (a is b)
        if fused.frontier is not None and generic.frontier is not None:
            assert fused.frontier(s) == generic.frontier(s)


@settings(max_examples=300, deadline=None)
@given(st.lists(operations(), max_size=8), states)
def test_the_interpreted_replay_is_the_compiled_steps(ops: list[Operation], state: Any) -> None:
    """`RegisterModel.placings` and `replay` interpret what `Model.placings` and `replay` (the
    defaults) run as compiled steps: the same places, the same failing position, the same
    state, from any state."""
    model = KVModel()
    fused, generic = model.placings(ops), Model.placings(model, ops)
    assert [p is None for p in fused] == [p is None for p in generic]
    assert [p[:2] for p in fused if p] == [p[:2] for p in generic if p]
    kept = [p for p in fused if p is not None]
    a = model.replay(kept, state)
    b = Model.replay(model, [p for p in generic if p is not None], state)
    assert a[0] == b[0] and (a[1] == b[1] or a[1] is b[1])


def test_register_refuses_kv_operations() -> None:
    with pytest.raises(ModelError, match="no operation 'append'"):
        RegisterModel().compile(op(0, "append", "x", 0, 1))
    with pytest.raises(ModelError, match="cas needs"):
        RegisterModel().compile(op(0, "cas", 3, 0, 1))


def test_descriptions() -> None:
    m = KVModel()
    assert m.describe(op(0, "r", 3, 0, 1)) == "read() -> 3"
    assert m.describe(op(0, "r", None, 0, 1)) == "read() -> nil"
    assert m.describe(op(0, "w", 3, 0, None)) == "write(3) -> ?"
    assert m.describe(op(0, "c", [None, 2], 0, 1)) == "cas(nil, 2) -> ok"
    assert m.describe(op(0, "cf", [1, 2], 0, 1)) == "cas(1, 2) -> compare failed"
    assert m.describe_state(None) == "absent" and m.describe_state(ANY) == "any value"


def test_values_compare_frozen() -> None:
    m = KVModel()
    w = m.compile(op(0, "w", [1, 2], 0, 1))
    r = m.compile(op(1, "r", [1, 2], 2, 3))
    assert w is not None and r is not None
    assert r(w(None)) == (1, 2)


def _set_ops(*specs: tuple[str, Any, int, int | None]) -> list[Operation]:
    out = []
    for i, (f, v, call, ret) in enumerate(specs):
        reads = f == "read"
        out.append(
            Operation(i, i, f, "s", None if reads else v, UNKNOWN if ret is None else v, call, ret)
        )
    return out


def test_set_rule() -> None:
    model = SetModel()
    ok = model.check_set(_set_ops(("add", 1, 0, 1), ("add", 2, 0, None), ("read", [1], 5, 6)))
    assert ok.valid and ok.acknowledged == 1 and ok.uncertain == 1
    lost = model.check_set(_set_ops(("add", 1, 0, 1), ("add", 2, 0, 2), ("read", [2, 9], 5, 6)))
    assert lost.lost == (1,) and lost.unexpected == (9,)
    # An add still running when the final read began may be missing.
    late = model.check_set(_set_ops(("add", 1, 4, 8), ("read", [], 5, 6)))
    assert late.valid
    assert model.check_set(_set_ops(("add", 1, 0, 1))).final_read is None


def test_set_model_is_a_real_model_that_check_decides_by_the_rule() -> None:
    from lab.checker import Verdict, check
    from lab.checker.search import search

    model = SetModel()
    assert isinstance(model, Model)
    history = _set_ops(
        ("add", 1, 0, 2), ("read", [1], 1, 3), ("add", 2, 4, 5), ("read", [1, 2], 6, 7)
    )
    # As a sequential specification it can be searched like any model ...
    sops = [sop for op in history if (sop := model.lower(op))]
    assert search(sops, model.init()).outcome == "valid"
    stale = _set_ops(("add", 1, 0, 1), ("read", [], 2, 3))
    sops = [sop for op in stale if (sop := model.lower(op))]
    assert search(sops, model.init()).outcome == "invalid"
    # ... but check() asks it to decide each partition (Jepsen's rule: the final read only).
    assert model.decide("s", history).verdict is Verdict.VALID
    assert check(model, history).verdict is Verdict.VALID
    lost = check(model, _set_ops(("add", 1, 0, 1), ("read", [], 2, 3)))
    assert lost.verdict is Verdict.INVALID and "lost" in lost.invalid[0].counterexample.message
    with pytest.raises(ModelError, match="no operation 'remove'"):
        model.decide("s", _set_ops(("remove", 1, 0, 1)))


def test_guessing_a_model() -> None:
    def h(*fs: str, key: Any = None) -> History:
        return History([Op(i, 0, "invoke", f, None, key=key) for i, f in enumerate(fs)])

    assert guess_model(h("read", "write", "cas")) == "register"
    assert guess_model(h("read", "write", key="k")) == "kv"
    assert guess_model(h("read", "append")) == "kv"
    assert guess_model(h("add", "read")) == "set"
    porcupine = h("get", "put", key="1")
    porcupine.absent = ""
    assert model_for(None, porcupine) == KVModel(absent="")
    with pytest.raises(ValueError, match="unknown model"):
        model_for("queue")


@pytest.mark.parametrize(("state", "legal"), [(1, False), (2, True), (None, True), (ANY, True)])
def test_a_compare_failure_says_the_register_held_something_else(state: Any, legal: bool) -> None:
    m = RegisterModel()
    failed = op(0, "cf", [1, 5], 0, 1)
    assert m.step(state, m.input(failed), m.output(failed)) == (legal, state)
    assert m.resets(failed) == () and m.frontier(failed) is None
