"""asyncio streams whose reader can hand data straight to a consumer: the proxy's fast path.

``asyncio.start_server`` and ``asyncio.open_connection`` with one change: the reader is a
``DirectReader``. When its buffer is empty and ``direct`` accepts a piece of data (a link with
no toxic, see ``ToxicLink.direct``), the data is written to the other socket inside the
protocol's ``data_received``: no copy into a buffer, no task woken, no await. When ``direct``
declines, or data is already buffered, the data is buffered as usual and the link's reader task
takes it: that keeps order. When a direct write leaves the destination behind (its write buffer
over the high-water mark), the source stops reading until the destination drains
(``DirectProtocol.on_drained``), as ``drain`` would make the reader task wait.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

Direct = Callable[[bytes], bool]


class DirectReader(asyncio.StreamReader):
    """A ``StreamReader`` that offers each piece of data to ``direct`` before buffering it."""

    direct: Direct | None = None

    def feed_data(self, data: bytes) -> None:  # type: ignore[override]  # asyncio feeds bytes
        # asyncio keeps the buffer in ``_buffer``; an empty one means no data is waiting ahead.
        if self.direct is not None and not self._buffer and self.direct(data):  # type: ignore[attr-defined]
            return
        super().feed_data(data)

    @property
    def transport(self) -> asyncio.BaseTransport | None:
        """The socket's transport (set by the protocol), to pause and resume reading."""
        transport: asyncio.BaseTransport | None = self._transport  # type: ignore[attr-defined]
        return transport


class DirectProtocol(asyncio.StreamReaderProtocol):
    """A ``StreamReaderProtocol`` that runs the ``on_drained`` callbacks, once each, when its
    transport's write buffer has drained (``resume_writing``) or the connection is lost.

    The fast path pauses reading its source while the destination is behind and resumes it
    from here: flow control without a task, and without buffering the data in the reader.
    """

    def __init__(self, reader: DirectReader, *args: Any, **kwargs: Any) -> None:
        super().__init__(reader, *args, **kwargs)
        self.on_drained: list[Callable[[], None]] = []

    def resume_writing(self) -> None:
        super().resume_writing()
        self._drained()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._drained()

    def _drained(self) -> None:
        callbacks, self.on_drained = self.on_drained, []
        for callback in callbacks:
            callback()


Streams = tuple[DirectReader, asyncio.StreamWriter]


async def start_server(
    on_client: Callable[[DirectReader, asyncio.StreamWriter], Awaitable[None]],
    sock: socket.socket,
    limit: int,
) -> asyncio.Server:
    """``asyncio.start_server(on_client, sock=sock, limit=limit)`` with ``DirectReader``s."""
    loop = asyncio.get_running_loop()

    def factory() -> DirectProtocol:
        reader = DirectReader(limit=limit, loop=loop)
        return DirectProtocol(reader, on_client, loop=loop)

    return await loop.create_server(factory, sock=sock)


async def open_connection(host: str, port: int, limit: int) -> Streams:
    """``asyncio.open_connection(host, port, limit=limit)`` with a ``DirectReader``."""
    loop = asyncio.get_running_loop()
    reader = DirectReader(limit=limit, loop=loop)
    protocol = DirectProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
