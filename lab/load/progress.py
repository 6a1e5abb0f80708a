"""What a load run shows while it runs: a live line per phase (rich) on a terminal, a plain
line per phase otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from lab.load.engine import Tally


class Progress:
    """A live line per phase: elapsed / total seconds and ops/s (rich), or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.completed:>7.1f}/{task.total:.0f} {task.fields[unit]}"),
            TextColumn("{task.fields[ops]:>9} ops {task.fields[rate]:>9.1f} ops/s"),
            TextColumn("{task.fields[errors]} errors"),
            TimeElapsedColumn(),
            refresh_per_second=2,
            transient=False,
        )
        with self._progress:
            yield
        self._progress = None

    @contextlib.asynccontextmanager
    async def track(
        self, label: str, total: float, tally: Tallied, *, by_ops: bool = False
    ) -> AsyncIterator[None]:
        """Show ``tally``'s progress while the block runs (a plain line when not a terminal):
        seconds elapsed of ``total``, or with ``by_ops`` operations done of ``total``."""
        started = time.monotonic()
        if self._progress is None:
            yield
            elapsed = time.monotonic() - started
            print(
                f"{label}: {tally.done} ops in {elapsed:.1f} s "
                f"({tally.done / max(elapsed, 1e-3):.1f} ops/s), {tally.error_count} errors",
                file=sys.stderr,
                flush=True,
            )
            return
        unit = "ops" if by_ops else "s"
        task = self._progress.add_task(label, total=total, ops=0, rate=0.0, errors=0, unit=unit)

        async def poll() -> None:
            while True:
                elapsed = time.monotonic() - started
                self._progress.update(
                    task,
                    completed=min(tally.done if by_ops else elapsed, total),
                    ops=tally.done,
                    rate=tally.done / max(elapsed, 1e-3),
                    errors=tally.error_count,
                )
                await asyncio.sleep(0.5)

        poller = asyncio.ensure_future(poll())
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            self._progress.update(task, completed=total, ops=tally.done)


class Tallied(Protocol):
    """What a progress line reads: a `Tally`, or a ramp's tallies added up (`RampTally`)."""

    @property
    def done(self) -> int: ...

    @property
    def error_count(self) -> int: ...


class RampTally:
    """Progress for a ramp: the steps' tallies added up."""

    def __init__(self, tallies: list[Tally]) -> None:
        self._tallies = tallies

    @property
    def done(self) -> int:
        return sum(t.done for t in self._tallies)

    @property
    def error_count(self) -> int:
        return sum(t.error_count for t in self._tallies)
