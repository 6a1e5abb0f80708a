"""An asyncio event loop whose clock is virtual, so production asyncio code replays exactly.

Why: the driver and the service are asyncio code full of ``sleep``, ``wait_for`` and
``call_later``. On this loop ``time()`` reads a virtual clock and the selector never waits:
when no callback is ready it moves the clock to the next timer and returns. Wall time never
enters, nor does another thread, so a run is a pure function of its inputs (the seed) and
replays byte for byte; an hour of timeouts takes the CPU time of its callbacks only.

Rules that keep it so: no real I/O (the selector polls nothing, not even the self-pipe), no
threads (``call_soon_threadsafe`` from another thread raises: its timing would be the OS
scheduler's), and executors run inline (:class:`InlineExecutor`).
"""

from __future__ import annotations

import asyncio
import contextvars
import selectors
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from typing import Any, TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class DeadlockError(RuntimeError):
    """The loop would wait forever: nothing ready, no timer, and no I/O can ever come."""


class _VirtualSelector(selectors.SelectSelector):
    """Keeps registrations (the loop registers its self-pipe) but never polls the OS."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise DeadlockError("nothing is scheduled: the run can never make progress")
        if timeout > 0:
            self.now += timeout  # the loop then runs the timer(s) due at the new time
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    """A ``SelectorEventLoop`` on virtual time (seconds from 0.0); see the module docstring."""

    def __init__(self) -> None:
        self._vselector = _VirtualSelector()
        super().__init__(self._vselector)
        self._thread_id_owner = threading.get_ident()

    def time(self) -> float:
        return self._vselector.now

    def call_soon_threadsafe(
        self,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        # Completed concurrent futures (InlineExecutor) come back through here, on our thread.
        if threading.get_ident() != self._thread_id_owner:
            raise RuntimeError("a thread touched the virtual loop: the run is not deterministic")
        return self.call_soon(callback, *args, context=context)

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts
    ) -> asyncio.Future[T]:
        if executor is None:  # the default executor is a thread pool
            raise RuntimeError("the virtual loop has no default executor: pass InlineExecutor")
        return super().run_in_executor(executor, func, *args)

    def _write_to_self(self) -> None:
        """Nobody sleeps in a real ``select``: there is nobody to wake."""


class InlineExecutor(Executor):
    """Runs each submitted call at once on the caller's thread; returns a completed future."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        fut: Future[T] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as e:  # handed to the awaiting coroutine, as a thread would
            fut.set_exception(e)
        return fut


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a fresh :class:`VirtualLoop`."""
    with asyncio.Runner(loop_factory=VirtualLoop) as runner:
        return runner.run(main)
