"""The event loop our server runs on: uvloop when it is installed (it is a dependency of the
node, so it normally is), else asyncio's own.

uvloop's transports move bytes in C (libuv): measured here (``nox -s proxy-bench``) it takes a
large share off the latency and CPU cost the proxy adds to each chunk. Nothing in the server
depends on which loop runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """``uvloop.new_event_loop`` if uvloop imports, else ``asyncio.new_event_loop``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop of ``loop_factory``."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
