"""The pieces a link is made of: chunks, the channels between stages, and the stubs that run toxics.

A link (one direction of one connection) is a pipeline::

    source socket -> reader -> [stub 0: noop] -> [stub 1: toxic] -> ... -> writer -> dest socket

Each stub runs one toxic as an asyncio task that reads chunks from its ``input`` channel and
writes to its ``output`` channel. ``None`` on a channel means end of stream. To change the chain
while data flows (Toxiproxy's "interrupt"), the link cancels a stub's task; every toxic is written
so that cancellation never loses a chunk it holds (see ``Channel.put``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.toxiproxy.toxics import ToxicWrapper

log = logging.getLogger(__name__)

# Go's io.Copy buffer: Toxiproxy reads at most this much per chunk.
READ_SIZE = 32 * 1024
# What a link with no toxics reads at once (see ``ToxicLink.bypass``): no toxic sees the
# chunks, so their size is not observable, and fewer, larger reads carry more bytes per second.
BYPASS_READ_SIZE = 256 * 1024


class Direction(enum.IntEnum):
    """Which way data flows. Toxiproxy lists upstream toxics before downstream ones."""

    UPSTREAM = 0  # client -> server
    DOWNSTREAM = 1  # server -> client

    @classmethod
    def parse(cls, value: str) -> Direction | None:
        """``"upstream"``/``"downstream"`` in any case, as Toxiproxy's ``ParseDirection``."""
        return {"upstream": cls.UPSTREAM, "downstream": cls.DOWNSTREAM}.get(value.lower())

    @property
    def label(self) -> str:
        """The name used in the API."""
        return self.name.lower()


@dataclass(slots=True)
class Chunk:
    """Bytes read from the source at ``timestamp`` (`time.monotonic`, seconds)."""

    data: bytes
    timestamp: float


class Channel:
    """A FIFO of chunks between two stages, soft-bounded at ``capacity`` items.

    ``put`` waits for room, but is cancel-safe in the way the chain rebuild needs: if the task is
    cancelled while waiting, the item is enqueued anyway before ``CancelledError`` propagates, so an
    interrupted stage never drops data. Once ``None`` (end of stream) has been read, every later
    ``get`` returns ``None`` again, like a closed Go channel. A channel whose reader is gone is put
    in *discard* mode: writes are dropped and never block.
    """

    def __init__(self, capacity: int = 1) -> None:
        self._items: deque[Chunk | None] = deque()
        self._capacity = max(1, capacity)
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._eof = False
        self._discard = False

    def __len__(self) -> int:
        return len(self._items)

    async def get(self) -> Chunk | None:
        """The next chunk, or ``None`` at (and after) end of stream."""
        while not self._items:
            if self._eof:
                return None
            self._readable.clear()
            await self._readable.wait()
        item = self._items.popleft()
        if item is None:
            self._eof = True
        if len(self._items) < self._capacity:
            self._writable.set()
        return item

    async def put(self, item: Chunk | None) -> None:
        """Append ``item`` once there is room (or at once, if cancelled while waiting)."""
        try:
            while len(self._items) >= self._capacity and not self._discard:
                self._writable.clear()
                await self._writable.wait()
        finally:
            self.put_nowait(item)

    def put_nowait(self, item: Chunk | None) -> None:
        """Append ``item`` ignoring the capacity (used to flush held data on an interrupt)."""
        if self._discard:
            return
        self._items.append(item)
        self._readable.set()

    def take_all(self) -> list[Chunk | None]:
        """Remove and return everything queued (the chain rebuild moves it downstream)."""
        items = list(self._items)
        self._items.clear()
        self._writable.set()
        return items

    def discard(self) -> None:
        """Nobody will read this channel again: drop what it holds and all later writes."""
        self._discard = True
        self._items.clear()
        self._writable.set()


class Stub:
    """One stage of a link: a toxic's per-connection seat, with its channels and state.

    ``state`` belongs to the stub, not to the task, so it survives a toxic update (``limit_data``
    keeps counting). ``closed`` means the stage has sent end-of-stream downstream; its input is then
    discarded.
    """

    def __init__(self, input: Channel, output: Channel, on_reset: Callable[[], None]) -> None:
        self.input = input
        self.output = output
        self.state: object = None
        self.closed = False
        self.task: asyncio.Task[None] | None = None
        self._on_reset = on_reset

    async def recv(self) -> Chunk | None:
        """The next chunk from upstream in the chain, ``None`` at end of stream."""
        return await self.input.get()

    async def send(self, chunk: Chunk) -> None:
        """Pass ``chunk`` to the next stage (never lost, even if interrupted)."""
        await self.output.put(chunk)

    def close(self) -> None:
        """End the stream downstream of this stage; what arrives later is dropped."""
        if self.closed:
            return
        self.closed = True
        self.input.discard()
        self.output.put_nowait(None)

    def reset_connection(self) -> None:
        """Make the whole connection close with TCP RST (SO_LINGER 0), then close this stage."""
        self._on_reset()
        self.close()

    def start(self, wrapper: ToxicWrapper) -> None:
        """Run ``wrapper``'s toxic on this stub, or a noop with probability ``1 - toxicity``."""
        if self.closed:
            return
        self.task = asyncio.get_running_loop().create_task(self._run(wrapper))

    async def interrupt(self) -> None:
        """Stop the running toxic and wait until it has let go of its data."""
        task = self.task
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait({task})

    async def _run(self, wrapper: ToxicWrapper) -> None:
        toxic = wrapper.pick()
        try:
            await toxic.pipe(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("toxic %s failed; closing its stream", wrapper.name)
            self.close()
