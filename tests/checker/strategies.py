"""Hypothesis strategies: plans for `lab.history.simulate`, and one-op mutations that break
linearizability on purpose. Every choice is drawn from Hypothesis (no `random`), so failures
shrink and replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from lab.history.op import COMPARE_FAILED, Op, Operation
from lab.history.pairing import pair
from lab.history.simulate import PlannedOp

NEVER = "never-written"


@st.composite
def plans(
    draw: st.DrawFn,
    *,
    fs: Sequence[str] = ("read", "write", "cas"),
    keys: Sequence[Any] = (None,),
    max_slots: int = 4,
    min_ops: int = 1,
    max_ops: int = 24,
    unknown: bool = True,
    string_values: bool = False,
) -> list[PlannedOp]:
    """A plan whose write (and cas-new) values are unique: the op's number.

    Operations are drawn as a list of independent tuples (cas picks its expected value by
    index among earlier writes), so Hypothesis can delete any of them while shrinking.
    """
    n_slots = draw(st.integers(1, max_slots))
    outcomes = st.sampled_from(["ok", "ok", "ok", "info", "fail"]) if unknown else st.just("ok")
    raw = draw(
        st.lists(
            st.tuples(
                st.sampled_from(fs),
                st.sampled_from(keys),
                st.integers(0, 8),  # which earlier value a cas expects (0: absent)
                st.integers(0, max_slots - 1),
                st.integers(1, 6),  # gap (>= 1: a slot's ops never touch)
                st.integers(1, 8),  # effect
                st.integers(1, 8),  # reply
                outcomes,
                st.booleans(),
            ),
            min_size=min_ops,
            max_size=max_ops,
        )
    )
    written: dict[Any, list[Any]] = {}
    plan = []
    for i, (f, key, pick, slot, gap, effect, reply, outcome, applied) in enumerate(raw):
        unique: Any = f"v{i}" if string_values else i
        value: Any = None
        if f == "write":
            value = unique
            written.setdefault(key, []).append(unique)
        elif f == "cas":
            choices = [None, *written.get(key, [])]
            value = [choices[pick % len(choices)], unique]
            written.setdefault(key, []).append(unique)
        elif f == "append":
            value = f"{i},"
        plan.append(
            PlannedOp(
                slot=slot % n_slots, f=f, key=key, value=value, gap=gap, effect=effect,
                reply=reply, outcome=outcome, applied=applied,
            )
        )  # fmt: skip
    return plan


# --- mutations: each returns candidate targets, and applies one --------------------------------

MUTATIONS = ("stale_read", "lost_write", "never_written", "wrong_cas", "false_compare_failure")


def _ok(ops: Sequence[Operation], f: str) -> list[Operation]:
    return [op for op in ops if op.f == f and op.ret is not None and not op.compare_failed]


def _surely_held(ops: Sequence[Operation], w: Operation, r: Operation) -> bool:
    """Did the key hold ``w``'s value for the whole of read ``r``? (``w`` returned before
    ``r`` was called, and no other change to the key overlaps [w.call, r.ret].)"""
    assert w.ret is not None and r.ret is not None
    if not w.ret < r.call:
        return False
    for op in ops:
        if op is w or op.key != r.key or op.f == "read" or op.compare_failed:
            continue
        if op.call <= r.ret and (op.ret is None or op.ret >= w.call):
            return False
    return True


def candidates(kind: str, events: Sequence[Op]) -> list[tuple[Operation, ...]]:
    """Operations the mutation ``kind`` can target so that the result is surely invalid."""
    ops = pair(events)
    reads, writes = _ok(ops, "read"), _ok(ops, "write")
    if kind == "stale_read":
        # w1 < w2 < r in real time on one key; r will read w1's (unique) value.
        return [
            (w1, w2, r)
            for r in reads
            for w2 in writes
            if w2.key == r.key and w2.ret is not None and w2.ret < r.call
            for w1 in writes
            if w1.key == r.key and w1.ret is not None and w1.ret < w2.call
        ]
    if kind == "lost_write":
        # An acknowledged write precedes r, and nothing can make the key absent again.
        deleted = {op.key for op in ops if op.f == "delete"}
        return [
            (w, r)
            for r in reads
            if r.key not in deleted
            for w in writes
            if w.key == r.key and w.ret is not None and w.ret < r.call
        ][:50]
    if kind == "never_written":
        return [(r,) for r in reads]
    if kind == "wrong_cas":
        return [(c,) for c in _ok(ops, "cas")]
    if kind == "false_compare_failure":
        # r read w's value while nothing else could change the key: a cas expecting that
        # value in r's place cannot have failed its compare.
        return [
            (w, r)
            for r in reads
            for w in writes
            if w.key == r.key and w.input == r.output and _surely_held(ops, w, r)
        ][:50]
    raise ValueError(kind)


def mutate(kind: str, events: Sequence[Op], target: tuple[Operation, ...]) -> list[Op]:
    """Apply mutation ``kind`` to ``target`` (from `candidates`)."""
    out = list(events)
    victim = target[-1]
    assert victim.complete_index is not None
    done = victim.complete_index
    if kind == "stale_read":
        out[done] = replace(out[done], value=target[0].input)
    elif kind == "lost_write":
        out[done] = replace(out[done], value=None)
    elif kind == "never_written":
        out[done] = replace(out[done], value=NEVER)
    elif kind == "wrong_cas":
        new = [NEVER, victim.input[1]]
        out[victim.invoke_index] = replace(out[victim.invoke_index], value=new)
        out[done] = replace(out[done], value=new)
    elif kind == "false_compare_failure":
        cas = [victim.output, NEVER]
        out[victim.invoke_index] = replace(out[victim.invoke_index], f="cas", value=cas)
        out[done] = replace(out[done], f="cas", value=COMPARE_FAILED)
    else:
        raise ValueError(kind)
    return out
