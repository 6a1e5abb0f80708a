"""How every long-running lab command stops on SIGINT (Ctrl-C) or SIGTERM (``timeout``, CI
runners, ``docker stop``): one path, whatever the signal.

The first signal asks the command to stop early: the workload ends, faults are healed, what was
started is stopped, and what ran is still checked and reported (marked interrupted). A second
signal escalates: what the command may abandon is abandoned (a chaos run's checks, a load
run's operations in flight, a soak's pending window checks), but everything that was started
is still stopped. Each command says what its two signals do (`StopRequest` ``notes``).
The handlers never raise, so no cleanup is ever cut in half (that is what left nodes running
when a second Ctrl-C landed inside a ``finally``); SIGKILL remains for a cleanup that hangs.

Synchronous code polls `StopRequest.requested` and `StopRequest.hurried`; asyncio code waits on
`StopRequest.event` or runs the work a second signal may abandon under
`StopRequest.unless_hurried`, which cancels that work only, never the cleanup around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
"""The shell's convention for a command ended by a signal: 128 + the signal's number."""


CHAOS_NOTES = (
    "stopping: ending the workload, healing faults, stopping nodes, checking what ran"
    " ({signal} again to skip the checks)",
    "skipping the checks; still stopping everything that was started",
)
"""What the terminal says on the first and the second signal (``{signal}``: the first's name)."""


class StopRequest:
    """The signals a command received so far, and who to wake when one arrives.

    ``notes`` is what the command says on the first and the second signal: what each one does
    in that command (`CHAOS_NOTES` for a chaos run)."""

    def __init__(self, notes: tuple[str, str] = CHAOS_NOTES) -> None:
        self.notes = notes
        self.signals: list[str] = []
        self._wake: list[tuple[asyncio.AbstractEventLoop, int, Callable[[], None]]] = []

    @property
    def requested(self) -> bool:
        """Stop early: end the workload, heal, check what ran."""
        return bool(self.signals)

    @property
    def hurried(self) -> bool:
        """Skip the checks too (a second signal); what was started is still stopped."""
        return len(self.signals) > 1

    @property
    def first(self) -> str | None:
        return self.signals[0] if self.signals else None

    def exit_code(self) -> int:
        return EXIT_CODES.get(self.first or "", 1)

    def event(self, signals: int = 1) -> asyncio.Event:
        """An event of the running loop, set (thread-safely) once ``signals`` signals have
        arrived: 1 when a stop is requested, 2 when it is hurried."""
        event = asyncio.Event()
        self.call_on(event.set, signals)
        return event

    def call_on(self, callback: Callable[[], None], signals: int = 1) -> None:
        """Call ``callback`` once, in the running loop, when ``signals`` signals have arrived
        (soon, if they already have)."""
        loop = asyncio.get_running_loop()
        called = False

        def once() -> None:  # runs in the loop: both paths below may schedule it
            nonlocal called
            if not called:
                called = True
                callback()

        # Registered before looking, so a signal landing in between is not missed.
        self._wake.append((loop, signals, once))
        if len(self.signals) >= signals:
            loop.call_soon(once)

    async def unless_hurried(self, work: Coroutine[Any, Any, T]) -> tuple[bool, T | None]:
        """Run ``work`` unless a second signal comes first: then cancel it (and wait until it
        has unwound; after a second signal it does not start). Returns whether it finished,
        and its result.

        For what a hurried stop may abandon (a drain, checks still running); the caller's own
        cleanup after it is never cut. An error ``work`` raised is raised here.
        """
        if self.hurried:  # too late to start it
            work.close()
            return False, None
        task = asyncio.ensure_future(work)
        hurried = asyncio.ensure_future(self.event(2).wait())
        try:
            await asyncio.wait((task, hurried), return_when=asyncio.FIRST_COMPLETED)
        finally:
            hurried.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait((task,))
        if task.cancelled():
            return False, None
        return True, task.result()

    def receive(self, name: str) -> None:
        self.signals.append(name)
        if len(self.signals) <= 2:
            note = self.notes[len(self.signals) - 1].format(signal=name)
        else:
            note = "still stopping what was started (SIGKILL would leave it running)"
        print(f"\n{note} ...", file=sys.stderr, flush=True)
        for loop, n, call in list(self._wake):
            if n != len(self.signals):
                continue
            with contextlib.suppress(RuntimeError):  # that loop is closed: nothing to wake
                loop.call_soon_threadsafe(call)


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest | None = None) -> Iterator[StopRequest]:
    """Route SIGINT and SIGTERM to ``stop`` while the block runs; the old handlers after.

    Outside the main thread (signals cannot be caught there) it only yields ``stop``.
    """
    stop = stop or StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.receive(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
