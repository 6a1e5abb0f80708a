"""Simulate clients of a linearizable store: a plan of operations in, a history out.

Used to make histories that are linearizable by construction, for the checker's property tests
and its benchmark. The simulation is deterministic: everything random lives in the *plan*
(timings, outcomes, values), which Hypothesis draws in tests (so failures shrink and replay)
and `random_plan` draws from a seeded `random.Random` for benchmarks.

Each client slot runs its planned operations one after another. An operation is invoked
``gap`` after the slot's previous completion, takes effect ``effect`` later (its
linearization point, strictly inside the interval) and completes ``reply`` after that. Effects
are applied to a per-key register (or set) in time order, which decides what reads return and
whether a cas succeeds (a cas whose expected value does not match completes ``ok`` with
`COMPARE_FAILED`, an observation, as the lab's clients record it). A planned ``info``
outcome (a timeout) took effect or not as ``applied`` says; a planned ``fail`` never did.
After an ``info`` the slot continues under a fresh process id, as Jepsen's processes do.

With ``revisions``, ok completions carry what Aspen reports (`Op.revision`): every operation
that takes effect other than a read (a cas whose compare failed too) is one more entry of a
log shared by all keys, and gets its index; a read gets the index applied when it took effect.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lab.history.op import COMPARE_FAILED, UNKNOWN, Op, Operation
from lab.history.pairing import normalize_f

Outcome = Literal["ok", "info", "fail"]


@dataclass(frozen=True)
class PlannedOp:
    """One operation a client slot will perform (see the module docstring for the timings)."""

    slot: int
    f: str
    key: Any = None
    value: Any = None
    gap: int = 1
    effect: int = 1
    reply: int = 1
    outcome: Outcome = "ok"
    applied: bool = True


def simulate(
    plan: Sequence[PlannedOp], *, n_slots: int | None = None, revisions: bool = False
) -> list[Op]:
    """The history (events in time order, ``time`` set) of running ``plan``.

    Register ops: read, write, cas ([expected, new]), delete, append. Set ops: add, and read
    of a key that has seen adds (returns the sorted elements).
    """
    events: list[tuple[int, int, int, dict[str, Any]]] = []
    for r in _run(plan, n_slots, revisions):
        p = r.planned
        events.append(
            (r.call, 0, r.n, dict(process=r.process, type="invoke", f=p.f, key=p.key,
                                  value=_inv(p)))
        )  # fmt: skip
        done: dict[str, Any] = dict(process=r.process, type=r.type, f=p.f, key=p.key, value=r.value)
        if r.revision is not None:
            done["revision"] = r.revision
        if r.type == "info":
            done["error"] = "timeout"
        events.append((r.ret, 0, r.n, done))  # at equal times, completions first
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return [Op(index=i, time=t, **fields) for i, (t, _, _, fields) in enumerate(events)]


def simulate_operations(
    plan: Sequence[PlannedOp], *, n_slots: int | None = None, revisions: bool = False
) -> list[Operation]:
    """What ``pair(simulate(plan))`` gives, without the events in between: for histories too
    big to hold twice (the benchmark's million operations)."""
    out: list[Operation] = []
    for r in sorted(_run(plan, n_slots, revisions), key=lambda r: (r.call, r.n)):
        if r.type == "fail":
            continue
        p = r.planned
        known = r.type == "ok"
        out.append(
            Operation(
                id=len(out), process=r.process, f=normalize_f(p.f), key=p.key, input=_inv(p),
                output=r.value if known else UNKNOWN, call=r.call,
                ret=r.ret if known else None, revision=r.revision,
            )
        )  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class _Ran:
    """One planned operation, run: its interval, its process and how it completed."""

    n: int
    planned: PlannedOp
    call: int
    ret: int
    process: int
    type: str
    value: Any
    revision: int | None


def _run(plan: Sequence[PlannedOp], n_slots: int | None, revisions: bool) -> list[_Ran]:
    """Every planned operation run (see the module docstring), in plan order."""
    slots = n_slots if n_slots is not None else 1 + max((p.slot for p in plan), default=-1)
    clock = [0] * slots
    process = list(range(slots))
    timed: list[tuple[int, int, int, int, PlannedOp, int]] = []
    for n, p in enumerate(plan):
        if p.gap < 0 or p.effect < 1 or p.reply < 1:
            raise ValueError(f"op {n}: need gap >= 0, effect >= 1, reply >= 1")
        t0 = clock[p.slot] + p.gap
        t1 = t0 + p.effect
        t2 = t1 + p.reply
        clock[p.slot] = t2
        timed.append((t0, t1, t2, n, p, process[p.slot]))
        if p.outcome == "info":
            process[p.slot] += slots
    # Apply effects in time order (ties: plan order) to compute outputs.
    state: dict[Any, Any] = {}
    sets: dict[Any, set[Any]] = {}
    results: list[tuple[str, Any, int | None]] = [("", None, None)] * len(plan)
    applied = 0  # the log's last index
    for _, _t1, _, n, p, _ in sorted(timed, key=lambda x: (x[1], x[3])):
        takes_effect = p.outcome == "ok" or (p.outcome == "info" and p.applied)
        kind, out = _apply(p, state, sets, takes_effect)
        if takes_effect and p.f != "read":
            applied += 1
        revision = applied if revisions and kind == "ok" and p.outcome == "ok" else None
        results[n] = (kind if p.outcome != "info" else "info", out, revision)
    return [_Ran(n, p, t0, t2, proc, *results[n]) for t0, _, t2, n, p, proc in timed]


def _inv(p: PlannedOp) -> Any:
    return None if p.f in ("read", "delete") else p.value


def _apply(
    p: PlannedOp, state: dict[Any, Any], sets: dict[Any, set[Any]], takes_effect: bool
) -> tuple[str, Any]:
    """(completion type, completion value) of ``p``; mutates the store if it takes effect."""
    f = p.f
    if f == "read":
        if p.key in sets:
            return "ok", sorted(sets[p.key], key=repr)
        return "ok", state.get(p.key)
    if f == "add":
        if takes_effect:
            sets.setdefault(p.key, set()).add(p.value)
        return ("ok" if p.outcome == "ok" else "fail"), p.value
    if not takes_effect:
        return "fail", p.value
    if f == "write":
        state[p.key] = p.value
        return "ok", p.value
    if f == "cas":
        expected, new = p.value
        if state.get(p.key) == expected:
            state[p.key] = new
            return "ok", p.value
        return "ok", COMPARE_FAILED
    if f == "delete":
        state.pop(p.key, None)
        return "ok", None
    if f == "append":
        state[p.key] = (state.get(p.key) or "") + p.value
        return "ok", p.value
    raise ValueError(f"cannot simulate f={f!r}")


def random_plan(
    rng: random.Random,
    n_ops: int,
    *,
    n_keys: int = 1,
    n_slots: int = 5,
    unknown: float = 0.01,
    fail: float = 0.0,
    fs: Sequence[str] = ("read", "write", "cas"),
    max_latency: int = 100,
) -> list[PlannedOp]:
    """A plan of ``n_ops`` operations over ``n_keys`` keys and ``n_slots`` client slots.

    Write values are unique (the op's number), cas expects one of the last few values written
    to its key (so some succeed), ``unknown`` and ``fail`` are outcome probabilities.
    """
    plan: list[PlannedOp] = []
    recent: dict[int, list[int]] = {}
    for n in range(n_ops):
        key = rng.randrange(n_keys) if n_keys > 1 else None
        f = rng.choice(fs)
        value: Any = None
        if f in ("write", "add"):
            value = n
            recent.setdefault(key or 0, []).append(n)
        elif f == "cas":
            seen = recent.get(key or 0, [])[-3:]
            value = [rng.choice(seen) if seen else None, n]
            recent.setdefault(key or 0, []).append(n)
        elif f == "append":
            value = f"{n},"
        r = rng.random()
        outcome: Outcome = "info" if r < unknown else "fail" if r < unknown + fail else "ok"
        plan.append(
            PlannedOp(
                slot=rng.randrange(n_slots),
                f=f,
                key=key,
                value=value,
                gap=rng.randrange(0, max_latency),
                effect=rng.randrange(1, max_latency),
                reply=rng.randrange(1, max_latency),
                outcome=outcome,
                applied=rng.random() < 0.5,
            )
        )
    return plan
