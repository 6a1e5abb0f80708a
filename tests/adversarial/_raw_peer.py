"""A fake Raft peer on a raw TCP socket: the one place adversarial tests build peer frames.

Frames are built with the node's own encoder (``aspen.wire.codec.encode``: a 4-byte length and
a msgpack body), and a connection opens with a ``Hello`` naming the node it claims to be, as
``aspen/transport/tcp.py`` expects. When the transport gains a handshake (peer authentication),
only :meth:`RawPeer.connect` needs to change.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from aspen.raft.messages import Message
from aspen.wire import PROTOCOL_VERSION, Hello
from aspen.wire.codec import encode


def hello_frame(cluster_id: str, claimed_id: int, address: str = "") -> bytes:
    """The opening frame of a connection from (a process claiming to be) ``claimed_id``.

    An empty ``address`` leaves the receiver's address book alone."""
    return encode(Hello(PROTOCOL_VERSION, cluster_id, claimed_id, address))


def frames(messages: Iterable[Message]) -> bytes:
    return b"".join(encode(m) for m in messages)


class RawPeer:
    """One connection to a node's Raft port, speaking as ``claimed_id``."""

    def __init__(self, host: str, port: int, cluster_id: str, claimed_id: int) -> None:
        self.host, self.port = host, port
        self.cluster_id = cluster_id
        self.claimed_id = claimed_id
        self.sock: socket.socket | None = None

    def connect(self, timeout: float = 5.0) -> RawPeer:
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.sendall(hello_frame(self.cluster_id, self.claimed_id))
        return self

    def send(self, *messages: Message) -> None:
        assert self.sock is not None, "connect() first"
        self.sock.sendall(frames(messages))

    def still_open(self) -> bool:
        """Whether the node kept the connection (it closes it on a protocol error)."""
        assert self.sock is not None
        self.sock.settimeout(0.2)
        try:
            return self.sock.recv(1) != b""
        except TimeoutError:
            return True  # nothing to read, not closed
        except OSError:
            return False

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> RawPeer:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()
