"""asyncio streams whose reader can hand data straight to a consumer: the proxy's fast path.

``asyncio.start_server`` and ``asyncio.open_connection`` with one change: the reader is a
``DirectReader``. When its buffer is empty and ``direct`` accepts a piece of data (a link with
no toxic, see ``ToxicLink.direct``), the data is written to the other socket inside the
protocol's ``data_received``: no copy into a buffer, no task woken, no await. When ``direct``
declines, or data is already buffered, the data is buffered as usual and the link's reader task
takes it: that keeps order, and keeps flow control (the task awaits ``drain``, the buffer pauses
the socket) whenever the destination is slow.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

Direct = Callable[[bytes], bool]


class DirectReader(asyncio.StreamReader):
    """A ``StreamReader`` that offers each piece of data to ``direct`` before buffering it."""

    direct: Direct | None = None

    def feed_data(self, data: bytes) -> None:  # type: ignore[override]  # asyncio feeds bytes
        # asyncio keeps the buffer in ``_buffer``; an empty one means no data is waiting ahead.
        if self.direct is not None and not self._buffer and self.direct(data):  # type: ignore[attr-defined]
            return
        super().feed_data(data)


Streams = tuple[DirectReader, asyncio.StreamWriter]


async def start_server(
    on_client: Callable[[DirectReader, asyncio.StreamWriter], Awaitable[None]],
    sock: socket.socket,
    limit: int,
) -> asyncio.Server:
    """``asyncio.start_server(on_client, sock=sock, limit=limit)`` with ``DirectReader``s."""
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = DirectReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, on_client, loop=loop)  # type: ignore[arg-type]

    return await loop.create_server(factory, sock=sock)


async def open_connection(host: str, port: int, limit: int) -> Streams:
    """``asyncio.open_connection(host, port, limit=limit)`` with a ``DirectReader``."""
    loop = asyncio.get_running_loop()
    reader = DirectReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
