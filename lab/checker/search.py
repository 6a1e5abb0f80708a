"""The search: Wing & Gong's algorithm with Lowe's memoization, as Porcupine implements it.

Every operation contributes a *call* and a *return* entry; entries sit in a doubly linked list
in real-time order (a call before a return at the same instant, so touching operations count
as concurrent; an unknown outcome returns at +infinity). The search walks the list: at a call
it tries to linearize that operation now (its compiled step is legal in the current state and
the pair (linearized set, new state) was never seen before); if so, it *lifts* the call and its
return out of the list, pushes (entry, old state) and restarts from the head. Reaching a return
means the operation it closes had to be linearized already and was not: pop the last choice,
put its entries back (*unlift*) and try the next call after it. An empty list is a
linearization; backtracking past the first choice proves there is none.

Lowe's cache makes it practical: a configuration (set of linearized operations, state) that
failed once fails again, so it is never re-explored. The set is a Python int used as a bitset
and the state is hashable, so the cache is a plain `set` of (int, state) pairs: exact, no hash
collisions mistaken for hits.

The loop is written for CPython: parallel lists instead of node objects, everything in locals,
one call per attempted step (`lab.checker.model.Model.compile`). While backtracking it keeps
the deepest stack reached (the longest linearizable prefix, what Porcupine draws) and the
operation whose return stopped it (the one that could not be placed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from lab.checker.model import ILLEGAL
from lab.checker.pruning import (
    Dominance,
    blind_pointless,
    first_observation,
    steer,
    symmetry_blocked,
    unreachable,
)
from lab.checker.timeline import SearchOp, Timeline

Outcome = Literal["valid", "invalid", "timeout", "stopped"]

_CHECK_EVERY: Final = 2048  # lifts + backtracks between looks at the clock


@dataclass(frozen=True)
class SearchResult:
    """Outcome, plus (when not valid) the longest linearizable prefix found and the culprit.

    ``prefix`` lists indices into the ops given to `search`, in linearization order (when
    valid: the linearization found, unknown operations placed in it included);
    ``culprit`` is the index of the operation whose return was reached unlinearized at the
    deepest point. ``steps`` counts lifts and backtracks (a measure of work). ``progress``
    (invalid only) is the latest return time that some visited configuration reached with
    every earlier return linearized: a witness that the history cut off before that time is
    linearizable, which `lab.checker.explain` uses to skip half its probes.
    """

    outcome: Outcome
    prefix: tuple[int, ...] = ()
    culprit: int | None = None
    steps: int = 0
    cache_size: int = 0
    progress: float | None = None


def search(
    ops: Sequence[SearchOp],
    init: Any,
    *,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SearchResult:
    """Is there a linearization of ``ops`` starting from state ``init``?

    ``deadline`` is a `time.monotonic` instant after which the search gives up ("timeout");
    ``should_stop`` is polled as often, for cancellation from outside ("stopped").
    """
    gen = search_steps(ops, init)
    monotonic = time.monotonic
    while True:
        try:
            next(gen)
        except StopIteration as done:
            result: SearchResult = done.value
            return result
        if deadline is not None and monotonic() > deadline:
            return abandon(gen)
        if should_stop is not None and should_stop():
            r = abandon(gen)
            return SearchResult("stopped", r.prefix, r.culprit, r.steps, r.cache_size)


def abandon(gen: Generator[None, bool | None, SearchResult]) -> SearchResult:
    """Stop a suspended `search_steps` generator; its "timeout" result (prefix so far)."""
    try:
        gen.send(True)
    except StopIteration as done:
        result: SearchResult = done.value
        return result
    raise RuntimeError("search_steps ignored the request to stop")


def search_steps(
    ops: Sequence[SearchOp], init: Any, *, slice_steps: int = _CHECK_EVERY
) -> Generator[None, bool | None, SearchResult]:
    """The search as a generator (see `ordered_search_steps`): with unknown outcomes, two
    searches that try them in different orders, interleaved slice by slice; the first to
    finish answers.

    Trying an unknown operation as soon as it is called (``eager``) finds a valid history's
    linearization at once, since operations usually take effect soon after their call; trying
    unknown operations only once the known ones are stuck (``lazy``) proves an invalid one
    far sooner, because configurations with few pending operations fail first and then prune,
    by dominance, every one with more. Both are exact, so either answer is the answer; the
    race costs at most twice the faster one.
    """
    if all(op.ret is not None for op in ops):
        return (yield from ordered_search_steps(ops, init, slice_steps=slice_steps))
    racers = [
        ordered_search_steps(ops, init, slice_steps=slice_steps, eager=True),
        ordered_search_steps(ops, init, slice_steps=slice_steps, eager=False),
    ]
    steps = 0
    started = 0  # racers that have run (a generator not yet started cannot be abandoned)
    try:
        while True:
            for k, gen in enumerate(racers):
                try:
                    next(gen)
                except StopIteration as done:
                    result: SearchResult = done.value
                    return replace(result, steps=result.steps + steps)
                started = max(started, k + 1)
                steps += slice_steps
                if (yield):
                    # The lazy search's prefix when it ran (it is the one built for invalid
                    # histories), else the eager one's.
                    given_up = abandon(racers[started - 1])
                    return replace(given_up, steps=steps)
    finally:
        for gen in racers:
            gen.close()


def ordered_search_steps(
    ops: Sequence[SearchOp],
    init: Any,
    *,
    slice_steps: int = _CHECK_EVERY,
    eager: bool = True,
) -> Generator[None, bool | None, SearchResult]:
    """The search as a generator: it yields after every ``slice_steps`` lifts and backtracks,
    so a caller can interleave partitions or watch a clock; ``send(True)`` abandons it and
    returns a "timeout" result (with the prefix found so far).

    ``check`` round-robins partitions this way in one process, so an easy invalid key is
    found before a hard valid one is finished, as Porcupine's parallel goroutines would.

    Unknown outcomes get their own list. An operation with no return can be linearized at any
    point after its call or never (it may not have happened), so the search stops as soon as
    every known operation is placed. At each node the candidates are the known calls before
    the first return in the main list and the pending unknown calls before it, in one order
    (`_urgency`): known ones by return; unknown ones by call when ``eager`` (Porcupine's
    order), else after every known one. `search_steps` races the two orders.
    """
    if not ops:
        return SearchResult("valid")
    tl = Timeline.build(ops)
    if tl.nxt[tl.head] == tl.tail:
        return SearchResult("valid")  # only unknown outcomes: none has to have happened
    match, opid, steps, bits = tl.match, tl.opid, tl.steps, tl.bits
    nxt, psame, head, ihead = tl.nxt, tl.psame, tl.head, tl.ihead
    call_of, fcheck, tail = tl.call_of, tl.fcheck, tl.tail
    illegal = ILLEGAL
    has_pending = tl.nxt[tl.ihead] != tl.itail
    # Lowe's cache: configurations entered, (linearized set, state).
    cache: set[tuple[int, Any]] = set()
    cache_add = cache.add
    dominance = Dominance()
    prunes = dominance.prunes
    urgency = _urgency(ops, match, tl.call_pos, eager)
    by_urgency = urgency.__getitem__
    # A frame: (entry placed, state before it, the node's candidates, index among them,
    # the node's bound, -1 for a known operation or 1 for a pending one, the node's doom and
    # lost: see `enter`).
    stack: list[tuple[int, Any, Sequence[int], int, int, int, int, int]] = []
    push = stack.append
    pop = stack.pop
    klin = 0  # known operations linearized (bitset)
    plin = 0  # pending operations linearized (bitset)
    best_len = -1
    # The deepest stack reached, as entries: only its part past `shared` (the length it shares
    # with the current stack) is rewritten at a new best, so keeping it costs O(pushes), not
    # O(depth) per new depth.
    best: list[int] = []
    shared = 0
    far = -1  # the latest bound (first unlinearized return) of a failed configuration
    culprit: int | None = None
    budget = slice_steps
    work = 0

    def enter(state: Any, after_pending: bool) -> tuple[Sequence[int], int, int, int]:
        """A node's (candidates, bound, doom, lost), where the bound is the first return in the
        main list. The look-ahead (`first_observation`) finds the first observation due: the
        node is doomed (no candidates) if its state fails it beyond repair; else the urgent
        operation (the one returning at the bound) is left out if placing it would doom the child
        (`unreachable` answers alike before and after it is placed: it cannot repair what it
        breaks): it is then ``lost``, and ``doom`` names the observation it would fail, so the
        deepest prefix and the culprit are what placing it and finding the child doomed gave.
        When the urgent operation comes first in any case, as it does unless an unknown call
        precedes the bound in the eager order, only it is given, as a 1-tuple: the search asks
        `candidates` for the rest if it comes back to the node, which most nodes of a valid
        history never do."""
        b = nxt[head]
        while match[b] >= 0:
            b = nxt[b]
        y = first_observation(tl, b)
        if y != tail:
            fc = fcheck[y]
            if not fc(state):
                if unreachable(tl, fc, y):
                    return [], b, y, -1  # a read due soon can no longer succeed
            elif y != b:
                u = call_of[b]
                new = steps[u](state)
                if new is not illegal and not fc(new) and unreachable(tl, fc, y):
                    cands = candidates(state, after_pending, b)
                    cands.remove(u)
                    return cands, b, y, u
        if eager and nxt[ihead] < b:  # itail is past every entry
            return candidates(state, after_pending, b), b, -1, -1
        return (call_of[b],), b, -1, -1

    def candidates(state: Any, after_pending: bool, bound: int) -> list[int]:
        """Every candidate of a node that is not doomed: the known calls before the bound and
        the pending calls before it that the symmetry and blind rules allow, most urgent
        first."""
        cands = []
        e = nxt[head]
        while e != bound:
            cands.append(e)
            e = nxt[e]
        p = nxt[ihead]
        while p < bound:
            if not (psame[p] >= 0 and symmetry_blocked(tl, p, plin)) and not (
                after_pending and blind_pointless(tl, p, after_pending)
            ):
                cands.append(p)
            p = nxt[p]
        if len(cands) > 1:
            cands.sort(key=by_urgency)
            fc = fcheck[bound]
            if fc is not None:
                cands = steer(tl, fc, cands, state, bound)
        return cands

    state = init
    cands, bound, doom, lost = enter(state, False)
    idx = 0

    while True:
        n_cands = len(cands)
        while idx < n_cands:
            e = cands[idx]
            new = steps[e](state)
            if new is not illegal:
                pending = match[e] < 0
                lin = klin if pending else klin | bits[e]
                pl = plin | bits[e] if pending else plin
                key = (lin | pl, new)
                if key not in cache and not (has_pending and prunes(lin, new, pl)):
                    cache_add(key)
                    tl.lift(e)
                    push((e, state, cands, idx, bound, 1 if pending else -1, doom, lost))
                    state = new
                    klin = lin
                    plin = pl
                    if not pending and nxt[head] == tail:
                        done = work + slice_steps - budget
                        order = tuple(opid[f[0]] for f in stack)
                        return SearchResult("valid", order, steps=done, cache_size=len(cache))
                    cands, bound, doom, lost = enter(state, pending)
                    idx = 0
                    n_cands = len(cands)
                    budget -= 1
                    if not budget:
                        work += slice_steps
                        budget = slice_steps
                        if (yield):
                            prefix = tuple(opid[e] for e in best)
                            return _give_up("timeout", prefix, culprit, work, cache)
                    continue
            idx += 1
        if type(cands) is tuple:
            # Only the most urgent candidate was given (see `enter`): now all of them (it is
            # among them again, and goes no further: its configuration is cached or illegal).
            cands = candidates(state, bool(stack) and stack[-1][5] > 0, bound)
            idx = 0
            continue
        # Nothing fits: this configuration failed; backtrack.
        if bound > far:
            far = bound
        depth = len(stack) + (lost >= 0)
        if depth > best_len:
            best_len = depth
            del best[shared:]
            best.extend(stack[k][0] for k in range(shared, len(stack)))
            if lost >= 0:
                best.append(lost)
            shared = len(stack)
            culprit = opid[doom if doom >= 0 else bound]
        if not stack:
            return SearchResult(
                "invalid", tuple(opid[e] for e in best), culprit,
                steps=work + slice_steps - budget,
                cache_size=len(cache) + len(dominance), progress=ops[opid[far]].ret,
            )  # fmt: skip
        if has_pending:
            dominance.record(klin, state, plin)
        top, state, cands, idx, bound, kind, doom, lost = pop()
        if len(stack) < shared:
            shared = len(stack)
        if kind < 0:
            klin ^= bits[top]
        else:
            plin ^= bits[top]
        tl.unlift(top)
        idx += 1
        budget -= 1
        if not budget:
            work += slice_steps
            budget = slice_steps
            if (yield):
                return _give_up("timeout", tuple(opid[e] for e in best), culprit, work, cache)


def _urgency(
    ops: Sequence[SearchOp], match: Sequence[int], call_pos: Sequence[int], eager: bool
) -> list[int]:
    """The order in which a node tries its candidates, by call entry (lower first).

    A known operation goes by its return: the most urgent first. An unknown one, ``eager``,
    goes by its call, as in Porcupine's list where it returns at +infinity; else after every
    known one (then in call order).
    """
    size = len(match)
    urgency = [0] * size
    for i, op in enumerate(ops):
        pos = call_pos[i]
        if op.ret is not None:
            urgency[pos] = 2 * match[pos]
        else:
            urgency[pos] = 2 * pos if eager else 2 * size + pos
    return urgency


def _give_up(
    outcome: Outcome, prefix: tuple[int, ...], culprit: int | None, work: int, cache: set[Any]
) -> SearchResult:
    return SearchResult(outcome, prefix, culprit, steps=work, cache_size=len(cache))
