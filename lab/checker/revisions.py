"""Revision-guided checking: operations whose system said where they took effect are checked
by replay, and the search runs only around the operations that have no such word.

A revision (`lab.history.op.Op.revision`) is the system's own order: Aspen answers a write
with the Raft index that committed it and a read with the applied index it was served at, as
etcd answers with its store revision (etcd's robustness tests check histories the same way).
In that order a state-changing operation sits *at* its revision and an observation (a read, a
cas whose compare failed: `lab.checker.model.Model.is_read_only`) just after it, so a read
served at index r sees every write up to r. Taking revisions as facts:

1. The order they give must agree with real time: when A returned before B was invoked, A's
   place must come first. One sort and one sweep find any pair that disagrees (a write
   committed before one that finished earlier, a read served at a revision older than a write
   that completed before it began, a read that saw a write invoked after it returned...).
2. Two state changes of one key cannot share a revision.
3. Replaying the operations in that order, every step must be legal in the model.

That is O(n log n). Operations without a revision (unknown outcomes, or from a system that
gives none) must fit in between: real time puts each after the last revisioned operation that
returned before it was invoked and before the first that was invoked after it returned. The
revisioned operations around it, up to the next *blind* one (a plain write, after which the
state no longer depends on what came before), form a segment; overlapping segments merge, and
each is searched (`lab.checker.search`) from the state the replay reached, with the revision
order enforced by the state itself. An operation with an unknown outcome may take effect at any
later point, so its segment runs to the end of the partition.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from lab.checker.model import ILLEGAL, Model, StepFn
from lab.checker.result import Counterexample, PartitionResult, Verdict
from lab.checker.search import SearchResult, search
from lab.checker.timeline import SearchOp
from lab.history.op import Operation


class _Placed(NamedTuple):
    """A revisioned operation at its place: (revision, 0 for a change / 1 for an observation),
    with its compiled step and whether it is blind (`lab.checker.model.Model.is_blind`)."""

    point: tuple[int, int]
    op: Operation
    step: StepFn
    blind: bool


def has_revisions(ops: Sequence[Operation]) -> bool:
    """Does any operation carry a revision (and so get checked here)?"""
    return any(op.revision is not None for op in ops)


def check_by_revisions(
    model: Model[Any], key: Any, ops: Sequence[Operation], *, deadline: float | None = None
) -> PartitionResult | None:
    """The verdict on one partition using its revisions; None when no operation has one (the
    plain search decides). ``deadline`` (`time.monotonic`) bounds the segment searches."""
    started = time.perf_counter()
    keyed: list[tuple[int, int, float, int, _Placed]] = []
    loose: list[Loose] = []
    lower = model.lower
    for n, op in enumerate(ops):
        sop = lower(op)
        if sop is None:
            continue  # an unknown read: no constraint, no effect
        revision = op.revision
        if revision is not None and op.ret is not None:
            point = (revision, 1 if sop.read_only else 0)
            keyed.append((*point, op.call, n, _Placed(point, op, sop.step, sop.blind)))
        else:
            loose.append((op, sop))
    if not keyed:
        return None
    # Observations sharing a place commute: among them, call order (real time's, if any).
    keyed.sort()
    placed = [k[4] for k in keyed]
    del keyed
    verdict = _Verdicts(model, key, ops, started)
    found = _shared_revision(placed) or _against_real_time(model, placed)
    if found is not None:
        return verdict.invalid(*found)
    if not loose:
        at, state = _replay(placed, 0, len(placed), model.init())
        return (
            _impossible(verdict, model, placed, at, state)
            if at >= 0
            else verdict.valid(len(placed))
        )
    return _with_loose(verdict, model, placed, loose, deadline)


class _Verdicts:
    """Builds the partition's result (one place for the fields every verdict repeats)."""

    def __init__(
        self, model: Model[Any], key: Any, ops: Sequence[Operation], started: float
    ) -> None:
        self.model, self.key, self.ops, self.started = model, key, ops, started

    def valid(self, steps: int) -> PartitionResult:
        return PartitionResult(
            self.key, Verdict.VALID, len(self.ops), time.perf_counter() - self.started,
            steps=steps,
        )  # fmt: skip

    def unknown(self, reason: str) -> PartitionResult:
        elapsed = time.perf_counter() - self.started
        return PartitionResult(self.key, Verdict.UNKNOWN, len(self.ops), elapsed, reason)

    def invalid(
        self, culprit: Operation, window: Sequence[Operation], message: str,
        prefix: Sequence[Operation] = (), state: Any = None,
    ) -> PartitionResult:  # fmt: skip
        model = self.model
        cx = Counterexample(
            culprit=culprit.id,
            prefix=tuple(op.id for op in prefix),
            state_after_prefix=model.describe_state(state) if prefix else None,
            window=tuple(op.id for op in window),
            window_minimal=False,
            message=message,
        )
        return PartitionResult(
            self.key, Verdict.INVALID, len(self.ops), time.perf_counter() - self.started,
            counterexample=cx, operations=tuple(self.ops),
            descriptions={op.id: model.describe(op) for op in self.ops},
        )  # fmt: skip


Found = tuple[Operation, tuple[Operation, ...], str]
"""An inconsistency: (culprit, the operations that show it, the reason in words)."""


def _shared_revision(placed: Sequence[_Placed]) -> Found | None:
    """Two changes of the key at one revision."""
    for a, b in itertools.pairwise(placed):
        if a.point == b.point and a.point[1] == 0:
            return (
                b.op, (a.op, b.op),
                f"op #{a.op.id} and op #{b.op.id} both changed the key at revision "
                f"{a.point[0]}: a log position holds one command.",
            )  # fmt: skip
    return None


def _against_real_time(model: Model[Any], placed: Sequence[_Placed]) -> Found | None:
    """A pair the revision order puts against real time: A placed after B although A returned
    before B was invoked. One sweep in revision order keeping the latest call seen so far."""
    latest_call: float = float("-inf")
    latest: _Placed | None = None
    i, n = 0, len(placed)
    while i < n:
        j = i
        while j < n and placed[j].point == placed[i].point:
            a = placed[j]
            ret = a.op.ret
            if latest is not None and ret is not None and ret < latest_call:
                return a.op, (a.op, latest.op), _real_time_reason(model, a, latest)
            j += 1
        for k in range(i, j):
            if placed[k].op.call > latest_call:
                latest_call, latest = placed[k].op.call, placed[k]
        i = j
    return None


def _real_time_reason(model: Model[Any], a: _Placed, b: _Placed) -> str:
    """Why A (returned first) placed after B (invoked later) is impossible, in words."""
    ra, rb = a.point[0], b.point[0]
    what_a = f"op #{a.op.id} ({model.describe(a.op)}, revision {ra})"
    what_b = f"op #{b.op.id} ({model.describe(b.op)}, revision {rb})"
    reads_a, reads_b = a.point[1] == 1, b.point[1] == 1
    if reads_b and not reads_a:
        why = f"a read served at revision {rb}, older than a write that completed before it"
    elif reads_a and not reads_b:
        why = f"a read at revision {ra} saw a write committed at {rb}, invoked after it returned"
    elif reads_a:
        why = f"a read served at revision {rb} after another had been served at {ra}"
    else:
        why = f"a write committed at {rb}, before one that had completed at {ra}"
    return (
        f"Revisions contradict real time: {what_a} returned before {what_b} was invoked, "
        f"yet revision order puts it after ({why})."
    )


def _replay(placed: Sequence[_Placed], lo: int, hi: int, state: Any) -> tuple[int, Any]:
    """Apply ``placed[lo:hi]`` in order from ``state``: (the position of the first impossible
    step, or -1; the state reached before it, or at the end)."""
    illegal = ILLEGAL
    for i in range(lo, hi):
        new = placed[i].step(state)
        if new is illegal:
            return i, state
        state = new
    return -1, state


def _impossible(
    verdict: _Verdicts, model: Model[Any], placed: Sequence[_Placed], i: int, state: Any
) -> PartitionResult:
    """The invalid result for a replay that failed at position ``i`` in ``state``."""
    last = next((k for k in range(i - 1, -1, -1) if placed[k].point[1] == 0), -1)
    culprit = placed[i].op
    window = (placed[last].op, culprit) if last >= 0 else (culprit,)
    before = (
        f"after op #{placed[last].op.id} at revision {placed[last].point[0]}"
        if last >= 0 else "from the start"
    )  # fmt: skip
    return verdict.invalid(
        culprit, window,
        f"In revision order, op #{culprit.id} (process {culprit.process}: "
        f"{model.describe(culprit)}, revision {placed[i].point[0]}) is impossible: the key "
        f"holds {model.describe_state(state)} ({before}).",
        prefix=[q.op for q in placed[:i]], state=state,
    )  # fmt: skip


RECENT: Final = (0, 16, 128)
"""How far back (in revisioned operations before a unit) the unknown outcomes tried first in
it were invoked: most take effect soon, and a search with few of them is fast."""

Loose = tuple[Operation, SearchOp]
"""An operation without a revision, lowered (`lab.checker.model.Model.lower`)."""


class _Windows:
    """Where an operation without a revision may go among the revisioned ones (by position in
    revision order): after ``lo``, the last that returned before it was invoked (-1: none),
    and before ``hi``, the first invoked after it returned (len: none, or its outcome is
    unknown). The sweep has put the revision order in line with real time, so lo < hi."""

    def __init__(self, placed: Sequence[_Placed]) -> None:
        m = len(placed)
        ops = [p.op for p in placed]
        ret_of = [op.ret if op.ret is not None else math.inf for op in ops]  # (never inf)
        by_ret = sorted(range(m), key=ret_of.__getitem__)
        self.rets = [ret_of[i] for i in by_ret]
        self.last_before = list(itertools.accumulate(by_ret, max))  # in return order
        call_of = [op.call for op in ops]
        by_call = sorted(range(m), key=call_of.__getitem__)
        self.calls = [call_of[i] for i in by_call]
        # Suffix minimum of positions, in call order (m past the end).
        self.first_after = [*itertools.accumulate(reversed(by_call), min, initial=m)][::-1]
        self.m = m

    def of(self, op: Operation) -> tuple[int, int]:
        k = bisect.bisect_left(self.rets, op.call)
        lo = self.last_before[k - 1] if k else -1
        hi = self.m if op.ret is None else self.first_after[bisect.bisect_right(self.calls, op.ret)]
        return lo, hi


def _with_loose(
    verdict: _Verdicts,
    model: Model[Any],
    placed: Sequence[_Placed],
    loose: Sequence[Loose],
    deadline: float | None,
) -> PartitionResult:
    """Replay with searches around the operations without a revision.

    The revisioned operations are cut into *units* at blind ones (after a plain write the
    state no longer depends on the past) that no window of an operation with a known outcome
    straddles; each unit starts from a known state. A unit whose replay fails is searched with
    the operations of unknown outcome that could take effect in it and no earlier unit used:
    first those invoked just before it, then from ever further back (`RECENT`), then all.
    Each unknown operation takes effect at most once, so the units' choices are kept; a unit
    that fails even with every unknown operation, used or not, proves the partition invalid.
    In the rare case in between (only operations already used elsewhere would help), the
    exact search of `_exact` decides.
    """
    m = len(placed)
    win = _Windows(placed)
    known = [(win.of(op), op, sop) for op, sop in loose if op.ret is not None]
    pool = sorted(
        ((win.of(op)[0], op, sop) for op, sop in loose if op.ret is None),
        key=lambda u: (u[0], u[1].call),
    )
    cover = [0] * (m + 1)  # windows of known outcomes: no unit boundary inside
    for (lo, hi), _, _ in known:
        if lo + 1 < hi:
            cover[lo + 1] += 1
            cover[hi] -= 1
    starts = [0]
    inside = 0
    for i in range(m):
        inside += cover[i]
        if i and not inside and placed[i].blind:
            starts.append(i)
    stops = [*starts[1:], m]
    members: list[list[Loose]] = [[] for _ in starts]
    for (lo, _), op, sop in known:
        members[max(0, bisect.bisect_right(starts, lo) - 1)].append((op, sop))
    pool_los = [lo for lo, _, _ in pool]
    used: set[int] = set()
    state = model.init()
    steps = 0
    for unit, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        n_avail = bisect.bisect_right(pool_los, stop - 1)  # (no slice: most units replay)
        mine = members[unit]
        if not mine:
            at, end = _replay(placed, start, stop, state)
            if at < 0:
                state, steps = end, steps + stop - start
                continue
            if not n_avail:
                return _impossible(verdict, model, placed, at, end)
        tries: list[list[Loose]] = [[]] if mine else []
        for reach in (*RECENT, None):  # the unused ones invoked ever longer before the unit
            since = -2 if reach is None else start - 1 - reach
            first = bisect.bisect_left(pool_los, since, 0, n_avail)
            pick = [(op, sop) for _, op, sop in pool[first:n_avail] if op.id not in used]
            if pick and (not tries or len(pick) > len(tries[-1])):
                tries.append(pick)
        for extra in tries:
            got = _search_unit(model, placed[start:stop], mine, extra, state, deadline)
            res, end = got
            steps += res.steps
            if res.outcome == "valid":
                used.update(extra[i - (stop - start) - len(mine)][0].id
                            for i in res.prefix if i >= stop - start + len(mine))  # fmt: skip
                state = end
                break
            if res.outcome != "invalid":
                return verdict.unknown(_budget(len(mine) + len(extra), res.steps))
        else:
            every = [(op, sop) for _, op, sop in pool[:n_avail]]
            ops = [p.op for p in placed[start:stop]] + [op for op, _ in mine + every]
            res, end = _search_unit(model, placed[start:stop], mine, every, state, deadline)
            if res.outcome == "invalid":
                culprit = ops[res.culprit] if res.culprit is not None else ops[-1]
                return verdict.invalid(
                    culprit, ops,
                    f"Between revisions {placed[start].point[0]} and "
                    f"{placed[stop - 1].point[0]}, with {len(mine)} operation(s) of known "
                    f"outcome and {len(every)} of unknown outcome without a revision, no order "
                    "consistent with real time and the revisions places op "
                    f"#{culprit.id} (process {culprit.process}: {model.describe(culprit)}).",
                    prefix=[ops[i] for i in res.prefix], state=end,
                )  # fmt: skip
            if res.outcome != "valid":
                return verdict.unknown(_budget(len(mine) + len(every), res.steps))
            return _exact(verdict, model, placed, loose, win, deadline)
    return verdict.valid(steps)


def _budget(n: int, steps: int) -> str:
    return (
        f"time budget exhausted searching around {n} operation(s) without a revision "
        f"({steps} steps)"
    )


def _search_unit(
    model: Model[Any],
    inside: Sequence[_Placed],
    known: Sequence[Loose],
    unknown: Sequence[Loose],
    state: Any,
    deadline: float | None,
) -> tuple[SearchResult, Any]:
    """Search revisioned operations with some without a revision, from ``state``: the result
    (indices: ``inside``, then ``known``, then ``unknown``) and the model state reached (the
    end of the linearization found, or of the longest prefix).

    The search state is (model state, group, placed in group): a revisioned operation of group
    g (its place; observations sharing one form a group) may go only once group g - 1 is
    complete, which enforces the revision order while real time stays the search's.
    """
    groups: list[int] = []
    sizes: list[int] = []
    for i, p in enumerate(inside):
        if i and p.point == inside[i - 1].point:
            sizes[-1] += 1
        else:
            sizes.append(1)
        groups.append(len(sizes) - 1)
    sizes.append(0)  # sizes[-1]: the empty group before the first
    sops = [
        SearchOp(p.op.call, p.op.ret, _ordered(p.step, g, sizes))
        for p, g in zip(inside, groups, strict=True)
    ]
    sops += [
        SearchOp(op.call, op.ret, _free(sop.step), sig=sop.sig, blind=sop.blind)
        for op, sop in (*known, *unknown)
    ]
    init = (state, -1, 0)
    res = search(sops, init, deadline=deadline)
    s: Any = init
    for i in res.prefix:
        s = sops[i].step(s)
    return res, s[0]


def _exact(
    verdict: _Verdicts,
    model: Model[Any],
    placed: Sequence[_Placed],
    loose: Sequence[Loose],
    win: _Windows,
    deadline: float | None,
) -> PartitionResult:
    """The exact check: every operation without a revision gets a segment of the revisioned
    ones around it, up to the next blind one after its window (the end, for an unknown
    outcome); overlapping segments merge and are searched, the rest is replayed."""
    m = len(placed)
    blind_from = [m] * (m + 1)  # the first blind revisioned operation at or after a position
    for i in range(m - 1, -1, -1):
        blind_from[i] = i if placed[i].blind else blind_from[i + 1]
    segments: list[tuple[int, int, list[Loose]]] = []
    for op, sop in loose:
        lo, hi = win.of(op)
        segments.append((lo + 1, blind_from[hi], [(op, sop)]))
    merged: list[tuple[int, int, list[Loose]]] = []
    for start, stop, us in sorted(segments, key=lambda s: s[0]):
        if merged and start <= merged[-1][1]:
            s0, t0, u0 = merged[-1]
            merged[-1] = (s0, max(t0, stop), u0 + us)
        else:
            merged.append((start, stop, us))
    state = model.init()
    at = 0
    steps = 0
    for start, stop, us in merged:
        bad, state = _replay(placed, at, start, state)
        if bad >= 0:
            return _impossible(verdict, model, placed, bad, state)
        res, end = _search_unit(model, placed[start:stop], us, (), state, deadline)
        steps += res.steps
        if res.outcome == "invalid":
            ops = [p.op for p in placed[start:stop]] + [op for op, _ in us]
            culprit = ops[res.culprit] if res.culprit is not None else ops[-1]
            return verdict.invalid(
                culprit, ops,
                f"Around {len(us)} operation(s) without a revision, no order consistent with "
                f"real time and the revisions places op #{culprit.id} (process "
                f"{culprit.process}: {model.describe(culprit)}).",
                prefix=[ops[i] for i in res.prefix], state=end,
            )  # fmt: skip
        if res.outcome != "valid":
            return verdict.unknown(_budget(len(us), res.steps))
        at = stop  # a blind operation (or the end): it needs no state
    bad, state = _replay(placed, at, m, state)
    if bad >= 0:
        return _impossible(verdict, model, placed, bad, state)
    return verdict.valid(steps + m)


def _ordered(step: StepFn, g: int, sizes: list[int]) -> StepFn:
    """A revisioned operation's step: legal only in its turn (see `_search_unit`)."""
    size, before = sizes[g], sizes[g - 1]
    illegal = ILLEGAL

    def ordered(s: Any) -> Any:
        value, cg, n = s
        if cg == g and n < size:
            n += 1
        elif cg == g - 1 and n == before:
            n = 1
        else:
            return illegal
        new = step(value)
        return illegal if new is illegal else (new, g, n)

    return ordered


def _free(step: StepFn) -> StepFn:
    """An operation without a revision: it may go between any two, in real time's bounds."""
    illegal = ILLEGAL

    def free(s: Any) -> Any:
        new = step(s[0])
        return illegal if new is illegal else (new, s[1], s[2])

    return free
