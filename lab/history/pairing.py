"""Pair each invoke with its completion: events (`Op`) in, operations (`Operation`) out.

The rules are Jepsen's: an invoke is completed by the next ok/fail/info of the same process;
``fail`` means the operation did not happen, so it is dropped; ``info`` and an invoke still open
at the end of the history are *unknown* (``ret`` None, output `UNKNOWN`). Nemesis events are
skipped. Real time comes from ``time`` when every client event has one, and from the order of
events otherwise (Porcupine's and Jepsen's logs have no clock, but are written in order).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from lab.history.errors import HistoryError
from lab.history.op import F_SYNONYMS, UNKNOWN, Op, Operation, Process


def normalize_f(f: str) -> str:
    """``get``/``put`` are synonyms of ``read``/``write``. Interned: a parser makes a new
    string per event, and a checker that looks up and compares an operation's ``f`` for
    every one of a million operations finds an interned one by identity, without touching
    another object."""
    return sys.intern(F_SYNONYMS.get(f, f))


def pair(
    events: Sequence[Op], *, source: str | None = None, lines: Sequence[int] | None = None
) -> list[Operation]:
    """Operations in invoke order; fails dropped, unknown outcomes kept with ``ret=None``.

    Raises `HistoryError` for a completion with no open invoke, or a second invoke while the
    process still has one open; ``source`` and ``lines`` (the 1-based line of each event in its
    file, as readers return them) let the message name the file and line.
    """
    use_time = all(e.time is not None for e in events if not e.is_nemesis)
    open_: dict[Process, tuple[Op, int]] = {}
    slots: list[tuple[Op, int, Op | None, int | None]] = []
    pending: dict[Process, int] = {}
    for pos, e in enumerate(events):
        if e.is_nemesis:
            continue
        t = e.time if use_time and e.time is not None else pos
        line = lines[pos] if lines is not None else e.index + 1
        if e.type == "invoke":
            if e.process in open_:
                prev = open_[e.process][0]
                raise HistoryError(
                    f"process {e.process} invokes {e.f} while its {prev.f} (event {prev.index}) "
                    "is still open",
                    source=source,
                    line=line,
                )
            open_[e.process] = (e, t)
            pending[e.process] = len(slots)
            slots.append((e, t, None, None))
            continue
        if e.process not in open_:
            raise HistoryError(
                f"process {e.process} completes {e.f} ({e.type}) with no open invoke",
                source=source,
                line=line,
            )
        inv, call = open_.pop(e.process)
        slots[pending.pop(e.process)] = (inv, call, e, t)
    return list(_operations(slots))


def _operations(slots: Iterable[tuple[Op, int, Op | None, int | None]]) -> Iterable[Operation]:
    n = 0
    for inv, call, done, ret in slots:
        if done is not None and done.type == "fail":
            continue
        known = done is not None and done.type == "ok"
        yield Operation(
            id=n,
            process=inv.process,
            f=normalize_f(inv.f),
            key=inv.key,
            input=inv.value,
            output=done.value if known and done is not None else UNKNOWN,
            call=call,
            ret=ret if known else None,
            invoke_index=inv.index,
            complete_index=done.index if done is not None else None,
            node=(done.node if done is not None and done.node is not None else inv.node),
            error=done.error if done is not None else None,
            revision=done.revision if known and done is not None else None,
        )
        n += 1
