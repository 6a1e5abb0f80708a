"""Raft messages between nodes over TCP: a thin asyncio adapter around ``aspen.wire``."""

from aspen.transport.tcp import (
    DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_SIZE,
    PeerTransport,
    TransportStats,
)

__all__ = ["DEFAULT_QUEUE_BYTES", "DEFAULT_QUEUE_SIZE", "PeerTransport", "TransportStats"]
