"""How every long-running lab command stops on SIGINT (Ctrl-C) or SIGTERM (``timeout``, CI
runners, ``docker stop``): one path, whatever the signal.

The first signal asks the command to stop early: the workload ends, faults are healed, what was
started is stopped, and what ran is still checked and reported (marked interrupted). A second
signal escalates: the checks are skipped, but everything that was started is still stopped.
The handlers never raise, so no cleanup is ever cut in half (that is what left nodes running
when a second Ctrl-C landed inside a ``finally``); SIGKILL remains for a cleanup that hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
"""The shell's convention for a command ended by a signal: 128 + the signal's number."""


class StopRequest:
    """The signals a command received so far, and who to wake when one arrives."""

    def __init__(self) -> None:
        self.signals: list[str] = []
        self._wake: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

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

    def event(self) -> asyncio.Event:
        """An event of the running loop, set (thread-safely) when a stop is requested."""
        event = asyncio.Event()
        if self.requested:
            event.set()
        self._wake.append((asyncio.get_running_loop(), event))
        return event

    def receive(self, name: str) -> None:
        self.signals.append(name)
        if len(self.signals) == 1:
            note = (
                "stopping: ending the workload, healing faults, stopping nodes, checking what"
                f" ran ({name} again to skip the checks)"
            )
        elif len(self.signals) == 2:
            note = "skipping the checks; still stopping everything that was started"
        else:
            note = "still stopping what was started (SIGKILL would leave it running)"
        print(f"\n{note} ...", file=sys.stderr, flush=True)
        for loop, event in self._wake:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nothing to wake
                loop.call_soon_threadsafe(event.set)


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
