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
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from lab.checker.model import ILLEGAL, Model, Placing, StepFn
from lab.checker.result import Counterexample, PartitionResult, Verdict
from lab.checker.search import SearchResult, search
from lab.checker.timeline import SearchOp
from lab.history.op import Operation


@dataclass(slots=True)
class _Order:
    """The revisioned operations in revision order, as parallel columns: a change sits at
    ``(revision, 0)``, an observation at ``(revision, 1)`` (its ``point``); ``placings`` are
    the model's (`lab.checker.model.Model.placings`), for `lab.checker.model.Model.replay`.

    Columns built by C-level maps and index sorts rather than a record per operation: on a
    history of a million operations, every object built or touched per operation counts."""

    ops: Sequence[Operation]
    placings: list[Placing]
    revisions: list[int]
    observes: list[int]
    calls: list[float]
    rets: list[float]
    blind: list[bool]

    @classmethod
    def of(cls, model: Model[Any], ops: Sequence[Operation]) -> _Order | None:
        """The operations of ``ops`` with a revision and a known outcome, ordered; None when
        there is none."""
        placed = [op for op in ops if op.revision is not None and op.ret is not None]
        maybe = model.placings(placed)
        placings: list[Placing]
        if None in maybe:
            placed = [op for op, p in zip(placed, maybe, strict=True) if p is not None]
            placings = [p for p in maybe if p is not None]
        else:
            placings = maybe  # type: ignore[assignment]  # (None is not in it)
        if not placed:
            return None
        observes = list(map(_FIRST, placings))
        revisions = list(map(_REVISION, placed))
        calls = list(map(_CALL, placed))
        # By place (revision, then change before observation), ties in call order: stable
        # sorts, the last key first. Observations sharing a place commute, and among them
        # this is real time's order, which `_against_real_time` relies on.
        order = sorted(range(len(placed)), key=calls.__getitem__)
        order.sort(key=observes.__getitem__)
        order.sort(key=revisions.__getitem__)
        placed, placings = _take(placed, order), _take(placings, order)
        return cls(
            placed, placings, _take(revisions, order), _take(observes, order),
            _take(calls, order), list(map(_RET, placed)), list(map(_SECOND, placings)),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.ops)

    def point(self, i: int) -> tuple[int, int]:
        return self.revisions[i], self.observes[i]


_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)
_CALL, _RET, _REVISION = (operator.attrgetter(a) for a in ("call", "ret", "revision"))


def _running_max(xs: Sequence[float], *, min_: bool = False) -> list[float]:
    """Each prefix's maximum (or minimum). A loop: `itertools.accumulate` with `max` is
    slower, the builtin's call costing more than the comparison."""
    out: list[float] = []
    add = out.append
    if not xs:
        return out
    best = xs[0]
    if min_:
        for x in xs:
            if x < best:
                best = x
            add(best)
    else:
        for x in xs:
            if x > best:
                best = x
            add(best)
    return out


def _take(column: Sequence[Any], order: list[int]) -> list[Any]:
    """``column`` permuted: ``[column[i] for i in order]``, at C speed."""
    if len(order) == 1:
        return [column[order[0]]]
    return list(operator.itemgetter(*order)(column))


def has_revisions(ops: Sequence[Operation]) -> bool:
    """Does any operation carry a revision (and so get checked here)?"""
    return any(op.revision is not None for op in ops)


def check_by_revisions(
    model: Model[Any], key: Any, ops: Sequence[Operation], *, deadline: float | None = None
) -> PartitionResult | None:
    """The verdict on one partition using its revisions; None when no operation has one (the
    plain search decides). ``deadline`` (`time.monotonic`) bounds the segment searches."""
    started = time.perf_counter()
    order = _Order.of(model, ops)
    if order is None:
        return None
    loose: list[Loose] = []
    lower = model.lower
    for op in ops:
        if op.revision is None or op.ret is None:
            sop = lower(op)
            if sop is not None:  # else an unknown read: no constraint, no effect
                loose.append((op, sop))
    verdict = _Verdicts(model, key, ops, started)
    latest_call = _running_max(order.calls)
    found = _shared_revision(order) or _against_real_time(model, order, latest_call)
    if found is not None:
        return verdict.invalid(*found)
    if not loose:
        at, state = model.replay(order.placings, model.init())
        return (
            _impossible(verdict, model, order, at, state) if at >= 0 else verdict.valid(len(order))
        )
    return _with_loose(verdict, model, order, latest_call, loose, deadline)


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


def _shared_revision(order: _Order) -> Found | None:
    """Two changes of the key at one revision."""
    changes = list(itertools.compress(order.revisions, map(operator.not_, order.observes)))
    if len(set(changes)) == len(changes):
        return None
    for i in range(1, len(order)):
        if order.point(i) == order.point(i - 1) and not order.observes[i]:
            a, b = order.ops[i - 1], order.ops[i]
            return (
                b, (a, b),
                f"op #{a.id} and op #{b.id} both changed the key at revision "
                f"{order.revisions[i]}: a log position holds one command.",
            )  # fmt: skip
    raise AssertionError("a revision shared by two changes was not found")  # pragma: no cover


def _against_real_time(
    model: Model[Any], order: _Order, latest_call: Sequence[float]
) -> Found | None:
    """A pair the revision order puts against real time: A placed after B although A returned
    before B was invoked. ``latest_call[i]`` is the latest call up to position ``i``, so A at
    ``j`` is out of place when it returned before ``latest_call[j - 1]``. (Observations sharing
    a place are in call order and all returned after their own calls: none of them is ever
    the one that is out of place.)"""
    rets = order.rets
    if not any(map(operator.lt, itertools.islice(rets, 1, None), latest_call)):
        return None
    j = next(j for j in range(1, len(order)) if rets[j] < latest_call[j - 1])
    i = latest_call.index(latest_call[j - 1])  # where that latest call was made
    a, b = order.ops[j], order.ops[i]
    return a, (a, b), _real_time_reason(model, order, j, i)


def _real_time_reason(model: Model[Any], order: _Order, j: int, i: int) -> str:
    """Why ``j`` (returned first) placed after ``i`` (invoked later) is impossible, in words."""
    a, b = order.ops[j], order.ops[i]
    ra, rb = order.revisions[j], order.revisions[i]
    what_a = f"op #{a.id} ({model.describe(a)}, revision {ra})"
    what_b = f"op #{b.id} ({model.describe(b)}, revision {rb})"
    reads_a, reads_b = order.observes[j] == 1, order.observes[i] == 1
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


def _impossible(
    verdict: _Verdicts, model: Model[Any], order: _Order, i: int, state: Any
) -> PartitionResult:
    """The invalid result for a replay that failed at position ``i`` in ``state``."""
    last = next((k for k in range(i - 1, -1, -1) if not order.observes[k]), -1)
    culprit = order.ops[i]
    window = (order.ops[last], culprit) if last >= 0 else (culprit,)
    before = (
        f"after op #{order.ops[last].id} at revision {order.revisions[last]}"
        if last >= 0 else "from the start"
    )  # fmt: skip
    return verdict.invalid(
        culprit, window,
        f"In revision order, op #{culprit.id} (process {culprit.process}: "
        f"{model.describe(culprit)}, revision {order.revisions[i]}) is impossible: the key "
        f"holds {model.describe_state(state)} ({before}).",
        prefix=order.ops[:i], state=state,
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
    unknown). The sweep has put the revision order in line with real time, so lo < hi.

    Both are binary searches over monotonic columns: the latest call up to each position,
    and the earliest return from each position on (the last position returning before t is
    the last whose earliest-return-from-here is before t)."""

    def __init__(self, order: _Order, latest_call: list[float]) -> None:
        self.latest_call = latest_call
        self.earliest_ret = _running_max(order.rets[::-1], min_=True)[::-1]
        self.m = len(order)

    def of(self, op: Operation) -> tuple[int, int]:
        lo = bisect.bisect_left(self.earliest_ret, op.call) - 1
        hi = self.m if op.ret is None else bisect.bisect_right(self.latest_call, op.ret)
        return lo, hi


def _with_loose(
    verdict: _Verdicts,
    model: Model[Any],
    order: _Order,
    latest_call: list[float],
    loose: Sequence[Loose],
    deadline: float | None,
) -> PartitionResult:
    """Replay with searches around the operations without a revision.

    The revisioned operations are cut into *units* at blind ones (after a plain write the
    state no longer depends on the past) that no window of an operation with a known outcome
    straddles; each unit starts from a known state. Units are replayed until one fails or
    holds an operation of known outcome without a revision; that unit is searched with the
    operations of unknown outcome that could take effect in it and no earlier unit used:
    first those invoked just before it, then from ever further back (`RECENT`), then all.
    Each unknown operation takes effect at most once, so the units' choices are kept; a unit
    that fails even with every unknown operation, used or not, proves the partition invalid.
    In the rare case in between (only operations already used elsewhere would help), the
    exact search of `_exact` decides.
    """
    m = len(order)
    win = _Windows(order, latest_call)
    known = [(win.of(op), op, sop) for op, sop in loose if op.ret is not None]
    pool = sorted(
        ((win.of(op)[0], op, sop) for op, sop in loose if op.ret is None),
        key=lambda u: (u[0], u[1].call),
    )
    starts = _unit_starts(order, [w for w, _, _ in known])
    stops = [*starts[1:], m]
    members: list[list[Loose]] = [[] for _ in starts]
    for (lo, _), op, sop in known:
        members[max(0, bisect.bisect_right(starts, lo) - 1)].append((op, sop))
    searched = [starts[u] for u in range(len(starts)) if members[u]]  # even if they replay
    searched.append(m)
    pool_los = [lo for lo, _, _ in pool]
    used: set[int] = set()
    placings = order.placings
    state = model.init()
    at = steps = 0
    while at < m:
        limit = searched[bisect.bisect_left(searched, at)]
        bad, end = model.replay(placings[at:limit], state)
        if bad < 0:
            steps += limit - at
            state, at = end, limit
            if at == m:
                break
            unit = bisect.bisect_right(starts, at) - 1
        else:
            unit = bisect.bisect_right(starts, at + bad) - 1
            start = starts[unit]
            if start > at:  # the state at the failing unit's start
                state = model.replay(placings[at:start], state)[1]
                steps += start - at
            if not members[unit] and not bisect.bisect_right(pool_los, stops[unit] - 1):
                return _impossible(verdict, model, order, at + bad, end)
        start, stop = starts[unit], stops[unit]
        n_avail = bisect.bisect_right(pool_los, stop - 1)
        mine = members[unit]
        tries: list[list[Loose]] = [[]] if mine else []
        for reach in (*RECENT, None):  # the unused ones invoked ever longer before the unit
            since = -2 if reach is None else start - 1 - reach
            first = bisect.bisect_left(pool_los, since, 0, n_avail)
            pick = [(op, sop) for _, op, sop in pool[first:n_avail] if op.id not in used]
            if pick and (not tries or len(pick) > len(tries[-1])):
                tries.append(pick)
        for extra in tries:
            res, end = _search_unit(model, order, start, stop, mine, extra, state, deadline)
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
            ops = [*order.ops[start:stop], *(op for op, _ in mine + every)]
            res, end = _search_unit(model, order, start, stop, mine, every, state, deadline)
            if res.outcome == "invalid":
                culprit = ops[res.culprit] if res.culprit is not None else ops[-1]
                return verdict.invalid(
                    culprit, ops,
                    f"Between revisions {order.revisions[start]} and "
                    f"{order.revisions[stop - 1]}, with {len(mine)} operation(s) of known "
                    f"outcome and {len(every)} of unknown outcome without a revision, no order "
                    "consistent with real time and the revisions places op "
                    f"#{culprit.id} (process {culprit.process}: {model.describe(culprit)}).",
                    prefix=[ops[i] for i in res.prefix], state=end,
                )  # fmt: skip
            if res.outcome != "valid":
                return verdict.unknown(_budget(len(mine) + len(every), res.steps))
            return _exact(verdict, model, order, loose, win, deadline)
        at = stop
    return verdict.valid(steps)


def _unit_starts(order: _Order, windows: Sequence[tuple[int, int]]) -> list[int]:
    """Where units start: position 0 and every blind operation that no operation of known
    outcome without a revision may straddle (one with window ``(lo, hi)`` covers positions
    lo + 1 .. hi - 1: a unit starting there would cut it off from part of its window)."""
    covered: list[list[int]] = []  # merged [first, last) ranges
    for first, last in sorted((lo + 1, hi) for lo, hi in windows if lo + 1 < hi):
        if covered and first <= covered[-1][1]:
            covered[-1][1] = max(covered[-1][1], last)
        else:
            covered.append([first, last])
    blind = itertools.compress(range(len(order)), order.blind)
    if not covered:
        return [0, *(i for i in blind if i)]
    edges = [e for span in covered for e in span]  # i is covered when an odd number are <= i
    return [0, *(i for i in blind if i and not bisect.bisect_right(edges, i) % 2)]


def _budget(n: int, steps: int) -> str:
    return (
        f"time budget exhausted searching around {n} operation(s) without a revision "
        f"({steps} steps)"
    )


def _search_unit(
    model: Model[Any],
    order: _Order,
    start: int,
    stop: int,
    known: Sequence[Loose],
    unknown: Sequence[Loose],
    state: Any,
    deadline: float | None,
) -> tuple[SearchResult, Any]:
    """Search the revisioned operations ``start..stop-1`` with some without a revision, from
    ``state``: the result (indices: the revisioned ones, then ``known``, then ``unknown``)
    and the model state reached (the end of the linearization found, or of the longest
    prefix).

    The search state is (model state, group, placed in group): a revisioned operation of group
    g (its place; observations sharing one form a group) may go only once group g - 1 is
    complete, which enforces the revision order while real time stays the search's.
    """
    groups: list[int] = []
    sizes: list[int] = []
    for i in range(start, stop):
        if i > start and order.point(i) == order.point(i - 1):
            sizes[-1] += 1
        else:
            sizes.append(1)
        groups.append(len(sizes) - 1)
    sizes.append(0)  # sizes[-1]: the empty group before the first
    sops = []
    for op, g in zip(order.ops[start:stop], groups, strict=True):
        lowered = model.lower(op)
        assert lowered is not None  # `placings` kept it
        sops.append(SearchOp(op.call, op.ret, _ordered(lowered.step, g, sizes)))
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
    order: _Order,
    loose: Sequence[Loose],
    win: _Windows,
    deadline: float | None,
) -> PartitionResult:
    """The exact check: every operation without a revision gets a segment of the revisioned
    ones around it, up to the next blind one after its window (the end, for an unknown
    outcome); overlapping segments merge and are searched, the rest is replayed."""
    m = len(order)
    blind_from = [m] * (m + 1)  # the first blind revisioned operation at or after a position
    for i in range(m - 1, -1, -1):
        blind_from[i] = i if order.blind[i] else blind_from[i + 1]
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
        bad, state = model.replay(order.placings[at:start], state)
        if bad >= 0:
            return _impossible(verdict, model, order, at + bad, state)
        res, end = _search_unit(model, order, start, stop, us, (), state, deadline)
        steps += res.steps
        if res.outcome == "invalid":
            ops = [*order.ops[start:stop], *(op for op, _ in us)]
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
    bad, state = model.replay(order.placings[at:m], state)
    if bad >= 0:
        return _impossible(verdict, model, order, at + bad, state)
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
