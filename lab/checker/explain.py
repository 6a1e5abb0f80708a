"""Shrink a non-linearizable partition to the smallest window that still fails on its own.

Two relaxations keep the answer sound (a window that fails proves the whole history fails):

* **Truncating at time T.** Operations called after T are dropped and those still running at T
  get an unknown outcome. Anything linearizable stays linearizable, so if the truncated history
  fails, the full one does. Failing is monotonic in T: binary search finds the smallest T.
* **Starting at time S.** The window is the operations called at or after S, closed under
  "overlaps the window" (an operation still running when the window's first one is called is
  pulled in, which can move the start earlier). Every dropped operation then precedes every
  window operation in real time, so it sits before them in any linearization: starting the
  window from `lab.checker.model.ANY` state covers whatever they did. Failing is monotonic in
  S too, so binary search finds the latest S. Models without ANY support keep S at the start.

Each probe is a full search of a smaller history, under the caller's deadline.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence
from typing import Any

from lab.checker.model import ANY, Model
from lab.checker.search import search
from lab.checker.timeline import SearchOp
from lab.history.op import UNKNOWN, Operation


class WindowTimeout(Exception):
    """The deadline passed while shrinking; the caller keeps the best window so far."""


def _window_ops(ops: Sequence[Operation], end: float, start: float) -> tuple[list[Operation], bool]:
    """(operations of the window [start, end], whether any earlier operation was dropped).

    Operations still running at ``end`` get an unknown outcome.
    """
    live = [op for op in ops if op.call <= end]
    inf = float("inf")

    def eff_ret(op: Operation) -> float:
        return inf if op.ret is None or op.ret > end else op.ret

    low = start
    while True:
        lowered = min((op.call for op in live if op.call < low and eff_ret(op) >= low), default=low)
        if lowered >= low:
            break
        low = lowered
    out = []
    dropped = False
    for op in live:
        if op.call < low:
            dropped = True
            continue
        if op.ret is not None and op.ret > end:
            op = dataclasses.replace(op, output=UNKNOWN, ret=None)
        out.append(op)
    return out, dropped


_Compiled = dict[tuple[int, bool], SearchOp | None]


def _fails(
    model: Model[Any],
    cut: tuple[list[Operation], bool],
    deadline: float | None,
    compiled: _Compiled | None = None,
) -> bool:
    window, dropped = cut
    if compiled is None:
        compiled = {}
    init = ANY if dropped else model.init()
    sops = []
    for op in window:
        # Probes share compiled operations (an operation is either as recorded or, when the
        # cut runs through it, unknown), which saves re-deriving them for every probe.
        ckey = (op.id, op.ret is None)
        if ckey in compiled:
            sop = compiled[ckey]
        else:
            sop = compiled[ckey] = model.lower(op)
        if sop is not None:
            sops.append(sop)
    res = search(sops, init, deadline=deadline)
    if res.outcome == "timeout":
        raise WindowTimeout
    return res.outcome == "invalid"


def smallest_window(
    model: Model[Any],
    ops: Sequence[Operation],
    *,
    deadline: float | None = None,
    progress: float | None = None,
) -> tuple[list[int], bool]:
    """(ids of the smallest failing window found, whether shrinking finished in time).

    ``ops`` is one partition already known not to be linearizable. ``progress`` is the
    search's `lab.checker.search.SearchResult.progress`: a visited configuration had every
    operation returning before it linearized, so any cut before it passes and the search
    for the end starts there (usually the first probe already fails).
    """
    ops = sorted(ops, key=lambda op: (op.call, op.id))
    compiled: _Compiled = {}
    rets = sorted({op.ret for op in ops if op.ret is not None})
    first = ops[0].call if ops else 0
    best: tuple[float, float] = (float("inf"), first)
    try:
        if not rets:
            raise WindowTimeout  # nothing to shrink: every outcome is unknown
        # Smallest end: failing is monotonic in the end point.
        lo, hi = 0, len(rets) - 1
        if progress is not None:
            lo = min(bisect.bisect_left(rets, progress), hi)
            if _fails(model, _window_ops(ops, rets[lo], first), deadline, compiled):
                hi = lo  # the usual case: the cut right at the search's furthest point
            elif lo < hi:
                lo += 1
        if hi > lo and not _fails(model, _window_ops(ops, rets[hi], first), deadline, compiled):
            raise WindowTimeout  # cannot happen for an invalid partition; keep everything
        while lo < hi:
            mid = (lo + hi) // 2
            if _fails(model, _window_ops(ops, rets[mid], first), deadline, compiled):
                hi = mid
            else:
                lo = mid + 1
        end = rets[lo]
        best = (end, first)
        if model.supports_any:
            calls = sorted({op.call for op in ops if op.call <= end})
            lo, hi = 0, len(calls) - 1  # calls[lo] is known to fail
            # Gallop back from the end first: small windows are cheap to search and the
            # answer is usually a handful of operations, so probe 1, 2, 4, ... calls back
            # before bisecting (a bisection would start with a costly half-history window).
            back = 1
            while hi - back + 1 > lo:
                j = hi - back + 1
                if _fails(model, _window_ops(ops, end, calls[j]), deadline, compiled):
                    lo = j
                    break
                hi = j - 1
                back *= 2
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if _fails(model, _window_ops(ops, end, calls[mid]), deadline, compiled):
                    lo = mid
                else:
                    hi = mid - 1
            best = (end, calls[lo])
        minimal = True
    except WindowTimeout:
        minimal = False
    window, _ = _window_ops(ops, best[0], best[1])
    return sorted(op.id for op in window), minimal
