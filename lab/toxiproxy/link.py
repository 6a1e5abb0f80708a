"""Connections and their links: the data path of a proxy, rebuilt live when toxics change.

A ``Connection`` is one accepted client and the connection we opened to the upstream. It has two
``ToxicLink``s: *upstream* (client -> server) and *downstream* (server -> client). As in
Toxiproxy, when one link reaches end of stream it closes its destination socket completely (no
half-close); the other link then sees end of stream on its source and closes the other socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from lab.toxiproxy.sockets import DirectProtocol, DirectReader, Streams
from lab.toxiproxy.stream import BYPASS_READ_SIZE, READ_SIZE, Channel, Chunk, Direction, Stub
from lab.toxiproxy.toxics import ToxicWrapper

log = logging.getLogger(__name__)

_LINGER_ZERO = struct.pack("ii", 1, 0)
_IO_ERRORS = (ConnectionError, OSError, RuntimeError)


class Connection:
    """A client socket and its upstream socket, joined by two links."""

    def __init__(
        self,
        client: Streams,
        upstream: Streams,
        on_done: Callable[[Connection], None],
    ) -> None:
        self.client_reader, self.client_writer = client
        self.upstream_reader, self.upstream_writer = upstream
        self.links: list[ToxicLink] = []
        self.reset = False
        self._on_done = on_done
        self.closed = False  # set once, when the connection is over

    @property
    def writers(self) -> tuple[asyncio.StreamWriter, asyncio.StreamWriter]:
        """Both sockets' writers: client first."""
        return self.client_writer, self.upstream_writer

    def enable_reset(self) -> None:
        """From now on both sockets close with SO_LINGER 0, i.e. a TCP RST (``reset_peer``)."""
        self.reset = True
        for writer in self.writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)

    def close_socket(self, writer: asyncio.StreamWriter) -> None:
        """Close one socket: flush and FIN normally, RST after ``enable_reset``."""
        if self.reset:
            writer.transport.abort()
        else:
            writer.close()

    def link_finished(self) -> None:
        """A link delivered its end of stream; once both have, the connection is over."""
        if all(link.finished for link in self.links):
            self._finish()

    async def abort(self) -> None:
        """Drop the connection now (proxy disabled or deleted): close sockets, stop all tasks."""
        for writer in self.writers:
            writer.transport.abort()
        tasks = [task for link in self.links for task in link.tasks() if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._finish()

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        current = asyncio.current_task()
        for link in self.links:
            for task in link.tasks():
                if task is not current:
                    task.cancel()
        for writer in self.writers:
            if not writer.transport.is_closing():
                self.close_socket(writer)
        self._on_done(self)


class ToxicLink:
    """One direction of a connection: source socket -> chain of stubs -> destination socket.

    ``stubs[i]`` runs the toxic at index ``i`` of its collection's chain for this direction;
    index 0 is the hidden noop. The operations below mirror Go's ``ToxicLink.AddToxic``,
    ``UpdateToxic`` and ``RemoveToxic``; the collection calls them one at a time.
    """

    def __init__(
        self,
        conn: Connection,
        direction: Direction,
        chain: list[ToxicWrapper],
        source: DirectReader,
        dest: asyncio.StreamWriter,
        on_finished: Callable[[ToxicLink], None],
    ) -> None:
        self.conn = conn
        self.direction = direction
        self.source = source
        self.dest = dest
        self.finished = False
        self._on_finished = on_finished
        self.input = Channel()
        self.stubs: list[Stub] = []
        last = self.input
        for i, wrapper in enumerate(chain):
            nxt = Channel(chain[i + 1].toxic.buffer_size) if i + 1 < len(chain) else Channel()
            stub = Stub(last, nxt, conn.enable_reset)
            stub.state = wrapper.toxic.new_state()
            self.stubs.append(stub)
            last = nxt
        self.output = last
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._holding = False  # the fast path paused the source until the destination drains

    def start(self, chain: list[ToxicWrapper]) -> None:
        """Start moving data, with ``chain`` (the one this link was built from)."""
        loop = asyncio.get_running_loop()
        for stub, wrapper in zip(self.stubs, chain, strict=True):
            stub.start(wrapper)
        self._reader = loop.create_task(self._read())
        self._writer = loop.create_task(self._write())
        self.source.direct = self._direct

    def tasks(self) -> list[asyncio.Task[None]]:
        """Every task this link runs."""
        found = [self._reader, self._writer, *(stub.task for stub in self.stubs)]
        return [task for task in found if task is not None]

    def add_toxic(self, wrapper: ToxicWrapper) -> None:
        """Append a stage at the end of the chain, while data flows.

        The last stage's output is re-pointed at the new stage; a chunk it is already putting
        still lands in the final channel, ahead of anything the new stage will emit.
        """
        last = self.stubs[-1]
        stub = Stub(Channel(wrapper.toxic.buffer_size), last.output, self.conn.enable_reset)
        self.stubs.append(stub)
        if last.closed or self.finished:
            stub.closed = True
            return
        last.output = stub.input
        stub.state = wrapper.toxic.new_state()
        stub.start(wrapper)

    async def update_toxic(self, index: int, wrapper: ToxicWrapper) -> None:
        """Restart stage ``index`` with new attributes (its state is kept)."""
        stub = self.stubs[index]
        if stub.closed:
            return
        await stub.interrupt()
        stub.start(wrapper)

    async def remove_toxic(self, index: int, wrapper: ToxicWrapper, prev: ToxicWrapper) -> None:
        """Take stage ``index`` out of the chain, moving the data it held downstream.

        ``prev`` is the wrapper of the stage before it, which is restarted with its new output.
        """
        stub = self.stubs[index]
        before = self.stubs[index - 1]
        del self.stubs[index]
        if stub.closed:
            return
        await stub.interrupt()
        wrapper.toxic.cleanup(stub)
        if stub.closed:
            return
        await before.interrupt()
        for item in stub.input.take_all():
            stub.output.put_nowait(item)
        before.output = stub.output
        before.start(prev)

    @property
    def bypass(self) -> bool:
        """Whether a chunk read now may go straight to the destination.

        True when the chain is only the hidden noop and both its channels are empty. Nothing is
        then inside the chain: the noop only waits with a chunk in hand when its output is full,
        and the writer hands each chunk to the transport without waiting. Skipping the chain
        then changes nothing a peer can see (the noop passes chunks unchanged and in order) and
        saves two task switches per chunk. A toxic added later takes the next chunk; the data
        written directly is already ahead of it in the transport's buffer, so order holds.
        """
        return (
            len(self.stubs) == 1
            and not self.input
            and not self.output
            and not self.dest.transport.is_closing()
        )

    def _direct(self, data: bytes) -> bool:
        """Write ``data`` (just received, nothing buffered before it) straight to the
        destination if the chain may be bypassed and the destination keeps up; else decline."""
        transport = self.dest.transport
        high = transport.get_write_buffer_limits()[1]
        if not self.bypass or self._holding or transport.get_write_buffer_size() > high:
            return False  # the reader task takes it, and awaits drain
        self.dest.write(data)
        if transport.get_write_buffer_size() > high:
            self._hold_source()
        return True

    def _hold_source(self) -> None:
        """Stop reading the source until the destination has drained (flow control)."""
        source: Any = self.source.transport  # uvloop's transports are not asyncio's classes
        protocol = self.dest.transport.get_protocol()
        if source is None or not isinstance(protocol, DirectProtocol):
            return
        self._holding = True
        source.pause_reading()

        def release() -> None:
            self._holding = False
            if not source.is_closing():
                source.resume_reading()

        protocol.on_drained.append(release)

    async def _read(self) -> None:
        try:
            while True:
                if self.bypass:
                    data = await self.source.read(BYPASS_READ_SIZE)
                    if data and self.bypass:
                        self.dest.write(data)
                        await self.dest.drain()
                        continue
                else:
                    data = await self.source.read(READ_SIZE)
                if not data:
                    break
                now = time.monotonic()  # the read's own time: uvloop's loop.time() is cached
                for start in range(0, len(data), READ_SIZE):  # Go's chunk size for toxics
                    await self.input.put(Chunk(data[start : start + READ_SIZE], now))
        except _IO_ERRORS as exc:
            log.debug("%s source ended: %r", self.direction.label, exc)
        finally:
            self.source.direct = None
            self.input.put_nowait(None)

    async def _write(self) -> None:
        try:
            while (chunk := await self.output.get()) is not None:
                if self.dest.transport.is_closing():
                    break
                self.dest.write(chunk.data)
                await self.dest.drain()
        except _IO_ERRORS as exc:
            log.debug("%s destination failed: %r", self.direction.label, exc)
        finally:
            self.output.discard()
            self.finished = True
            self.conn.close_socket(self.dest)
            self._on_finished(self)
            self.conn.link_finished()
