"""Waiting for a condition in tests: poll it, fail with what was awaited after a timeout.

Never a fixed sleep: a test waits exactly as long as the condition takes, up to a bound that
only a broken system reaches.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def wait_until(cond: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``cond`` until it returns something truthy, and return that; AssertionError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.005)
    return value


async def eventually(
    cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition"
) -> Any:
    """``wait_until`` on the event loop: ``cond`` may be sync or async; returns its value.

    An async ``cond`` is polled every 50 ms, not 5: it is a request to the system under test,
    and asking faster would only load it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        pause = 0.005
        if asyncio.iscoroutine(value):
            value, pause = await value, 0.05
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(pause)
