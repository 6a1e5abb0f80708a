"""`Timeline`: a partition's operations as the search walks them, call and return entries in
real-time order on doubly linked lists.

Entries ``0..size-1`` are the calls and returns sorted by time (a call before a return at the
same instant, so touching operations count as concurrent). Known operations' calls and returns
form the *main* list (``head..tail``); unknown operations (no return: it is at +infinity) have
only their call, on the *pending* list (``ihead..itail``). Linearizing an operation *lifts* its
entries out of their list; backtracking puts them back (*unlift*, in reverse order). Parallel
lists rather than node objects: the search's hot loop indexes them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class SearchOp(NamedTuple):
    """One operation as the search sees it: real-time interval and compiled step.

    ``ret`` None means the outcome is unknown (the operation may happen at any point after
    its call, or never). ``sig``, for such operations, names their effect: two with equal
    ``sig`` are interchangeable, and the search then only places them in call order.
    ``blind`` says the step ignores the state it is applied to (a plain write): placing an
    unknown operation right before a blind unknown one is pointless, so the search never does.
    ``resets`` and ``frontier`` come from `lab.checker.model.Model`: a look-ahead test for
    the most urgent operation, and the states other operations could set that it must allow.
    ``read_only`` (`lab.checker.model.Model.is_read_only`) is for revision-guided checking.
    A named tuple, not a dataclass: one is built per operation, and a tuple builds fastest.
    """

    call: float
    ret: float | None
    step: Callable[[Any], Any]
    sig: Hashable | None = None
    blind: bool = False
    resets: tuple[Any, ...] | None = None
    frontier: Callable[[Any], bool] | None = None
    read_only: bool = False


@dataclass(slots=True, eq=False)
class Timeline:
    """The lists and, per entry, what the search and its pruning rules look up.

    Indexed by entry: ``match`` (a known call's return entry, else -1), ``opid`` (the
    operation), ``steps`` and ``bits`` (a call's compiled step and bit in the linearized set),
    ``resets`` (a call's `Model.resets`), ``psame`` (a pending call's previous pending call
    with the same effect, or -1), ``blind`` (a pending call that ignores the state),
    ``fcheck`` (a return's frontier test), ``fnext`` (the first return entry at or after this
    one that has a frontier test, ``tail`` if none: `lab.checker.pruning.first_observation`
    hops along it instead of walking the list) and ``call_of`` (a return's call).
    """

    size: int
    head: int
    tail: int
    ihead: int
    itail: int
    nxt: list[int]
    prv: list[int]
    match: list[int]
    opid: list[int]
    call_pos: list[int]
    steps: list[Any]
    bits: list[int]
    resets: list[tuple[Any, ...] | None]
    psame: list[int]
    blind: list[bool]
    fcheck: list[Any]
    fnext: list[int]
    call_of: list[int]

    @classmethod
    def build(cls, ops: Sequence[SearchOp]) -> Timeline:
        n = len(ops)
        entries: list[tuple[float, int, int]] = []
        for i, op in enumerate(ops):
            entries.append((op.call, 0, i))
            if op.ret is not None:
                entries.append((op.ret, 1, i))
        entries.sort()
        size = len(entries)
        head, tail, ihead, itail = size, size + 1, size + 2, size + 3
        match = [-1] * size
        opid = [0] * size
        call_pos = [0] * n
        for pos, (_, kind, i) in enumerate(entries):
            opid[pos] = i
            if kind == 0:
                call_pos[i] = pos
            else:
                match[call_pos[i]] = pos
        steps: list[Any] = [None] * size
        bits = [0] * size
        resets: list[tuple[Any, ...] | None] = [None] * size
        fcheck: list[Any] = [None] * (size + 4)
        call_of = [0] * (size + 4)
        for i, op in enumerate(ops):
            pos = call_pos[i]
            steps[pos] = op.step
            bits[pos] = 1 << i
            resets[pos] = op.resets
            if op.ret is not None:
                fcheck[match[pos]] = op.frontier
                call_of[match[pos]] = pos
        fnext = [tail] * (size + 2)
        for pos in range(size - 1, -1, -1):
            fnext[pos] = pos if fcheck[pos] is not None else fnext[pos + 1]
        nxt = [0] * (size + 4)
        prv = [0] * (size + 4)
        last, ilast = head, ihead
        for pos, (_, kind, i) in enumerate(entries):
            if kind == 0 and ops[i].ret is None:
                nxt[ilast] = pos
                prv[pos] = ilast
                ilast = pos
            else:
                nxt[last] = pos
                prv[pos] = last
                last = pos
        nxt[last] = tail
        prv[tail] = last
        nxt[ilast] = itail
        prv[itail] = ilast
        psame = [-1] * size
        blind = [False] * size
        last_by_sig: dict[Hashable, int] = {}
        for pos in range(size):
            if match[pos] < 0 and steps[pos] is not None:
                op = ops[opid[pos]]
                blind[pos] = op.blind
                if op.sig is not None:
                    psame[pos] = last_by_sig.get(op.sig, -1)
                    last_by_sig[op.sig] = pos
        return cls(
            size, head, tail, ihead, itail, nxt, prv, match, opid, call_pos, steps, bits,
            resets, psame, blind, fcheck, fnext, call_of,
        )  # fmt: skip

    def lift(self, e: int) -> None:
        """Take call entry ``e`` (and a known operation's return) out of its list."""
        nxt, prv = self.nxt, self.prv
        p, q = prv[e], nxt[e]
        nxt[p] = q
        prv[q] = p
        m = self.match[e]
        if m >= 0:
            p, q = prv[m], nxt[m]
            nxt[p] = q
            prv[q] = p

    def unlift(self, e: int) -> None:
        """Put back what `lift` took out (the return first, then the call)."""
        nxt, prv = self.nxt, self.prv
        m = self.match[e]
        if m >= 0:
            nxt[prv[m]] = m
            prv[nxt[m]] = m
        nxt[prv[e]] = e
        prv[nxt[e]] = e

    def bound(self) -> tuple[list[int], int]:
        """(the known calls before the first return of the main list, that return entry)."""
        match, nxt = self.match, self.nxt
        cands = []
        e = nxt[self.head]
        while match[e] >= 0:
            cands.append(e)
            e = nxt[e]
        return cands, e
