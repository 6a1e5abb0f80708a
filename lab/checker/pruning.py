"""The search's pruning rules, one function each, so each can be read and tested alone.

None changes a verdict, only how much of the search space is visited (the brute-force
comparison in tests/checker/test_pruning.py holds them to that):

* `symmetry_blocked`: interchangeable unknown operations are placed in call order only;
* `blind_pointless`: an unknown operation is never placed right before a blind one;
* `doomed` (`first_observation`, `unreachable`): a configuration whose most urgent read
  can no longer succeed is dead at once;
* `steer`: candidates after which the urgent operation can succeed are tried first;
* `Dominance`: a configuration with more pending operations placed than one that failed
  (same known set, same state) fails too.

Lowe's cache of visited (linearized set, state) configurations stays in the search loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from lab.checker.model import ILLEGAL
from lab.checker.timeline import Timeline

DOMINANCE_KEEP: Final = 4
"""Failed pending sets remembered per (known set, state)."""


def symmetry_blocked(tl: Timeline, p: int, plin: int) -> bool:
    """True when pending call ``p`` must wait: an earlier pending operation with the same
    effect is not placed yet. Any linearization can swap interchangeable operations into call
    order, so nothing is lost, and the pending sets the cache sees become canonical."""
    ps = tl.psame[p]
    return ps >= 0 and not plin & tl.bits[ps]


def blind_pointless(tl: Timeline, p: int, after_pending: bool) -> bool:
    """True when placing blind pending call ``p`` right after a pending operation is pointless:
    that one would be overwritten unseen, and leaving it unplaced ("never happened") is
    always allowed."""
    return after_pending and tl.blind[p]


def first_observation(tl: Timeline, bound: int) -> int:
    """The return entry of the first operation due (in return order, at or after ``bound``)
    that has a frontier test and is not placed yet, or ``tl.tail`` if none."""
    tail, fnext, nxt, prv = tl.tail, tl.fnext, tl.nxt, tl.prv
    if bound == tail:
        return tail
    y = fnext[bound]
    # A lifted entry keeps its links but its neighbour no longer points back at it (lifts are
    # undone in reverse order): skip those, their operations are placed.
    while y != tail and nxt[prv[y]] != y:
        y = fnext[y + 1]
    return y


def doomed(tl: Timeline, state: Any, bound: int) -> int:
    """Look ahead to the first operation due (in return order) that has a frontier test: if the
    state fails it, and nothing that could still run before it resets the state to one it
    accepts (appends alone cannot help), the configuration is dead: returns that operation's
    return entry, else -1. (The search applies the two parts, `first_observation` and
    `unreachable`, itself: it also needs the observation when the node is not doomed.)"""
    y = first_observation(tl, bound)
    if y == tl.tail:
        return -1
    fc = tl.fcheck[y]
    return y if not fc(state) and unreachable(tl, fc, y) else -1


def unreachable(tl: Timeline, fc: Callable[[Any], bool], y: int) -> bool:
    """Can no operation called before return entry ``y`` (known, or pending) reset the state
    to one that passes ``fc``, the frontier test of ``y``'s operation?"""
    match, resets, nxt = tl.match, tl.resets, tl.nxt
    # Loops, not any(): this runs at many nodes.
    c = nxt[tl.head]
    while c != y:
        if match[c] >= 0:
            r = resets[c]
            if r is None:
                return False
            for value in r:
                if fc(value):
                    return False
        c = nxt[c]
    p = nxt[tl.ihead]
    itail = tl.itail
    while p != itail and p < y:
        r = resets[p]
        if r is None:
            return False
        for value in r:
            if fc(value):
                return False
        p = nxt[p]
    return True


def steer(
    tl: Timeline, fc: Callable[[Any], bool], cands: list[int], state: Any, bound: int
) -> list[int]:
    """When the urgent operation (returning at ``bound``) cannot go yet, try first the
    candidates after which its frontier test passes: a valid history is then found without
    wandering (the order of candidates never changes what is found, only how soon)."""
    steps = tl.steps
    if steps[tl.call_of[bound]](state) is not ILLEGAL:
        return cands
    good = []
    rest = []
    for c in cands:
        new = steps[c](state)
        if new is not ILLEGAL and fc(new):
            good.append(c)
        else:
            rest.append(c)
    return good + rest if good and rest else cands


class Dominance:
    """Configurations that failed, as (known set, state) -> a few pending sets placed.

    Placing fewer pending operations only leaves more choices, so a configuration whose
    pending set contains one that failed with the same known set and state fails too.
    Only the few smallest sets are kept (they prune the most): forgetting one only prunes
    less, never wrongly.
    """

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed: dict[tuple[int, Any], list[int]] = {}

    def __len__(self) -> int:
        return len(self.failed)

    def prunes(self, klin: int, state: Any, plin: int) -> bool:
        """Does a failed configuration dominate (klin, state, plin)?"""
        seen = self.failed.get((klin, state))
        if seen is None:
            return False
        for p in seen:  # noqa: SIM110 (a loop: any() and a generator cost more, per candidate)
            if not p & ~plin:
                return True
        return False

    def record(self, klin: int, state: Any, plin: int) -> None:
        """Remember that (klin, state, plin) failed."""
        key = (klin, state)
        seen = self.failed.get(key)
        if seen is None:
            self.failed[key] = [plin]
        elif len(seen) < DOMINANCE_KEEP:
            seen.append(plin)
        else:
            worst = 0
            most = seen[0].bit_count()
            for k in range(1, len(seen)):
                c = seen[k].bit_count()
                if c > most:
                    worst, most = k, c
            if plin.bit_count() < most:
                seen[worst] = plin
