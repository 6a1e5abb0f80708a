"""Cluster tickets: one copy-pastable string that tells a client or a new node where a cluster is.

::

    aspen<base32(version byte | msgpack [cluster_id, [[id, raft, http], ...]] | crc32)>
    aspen<base32(2 | msgpack [cluster_id, [[id, raft, http], ...], secret] | crc32)>

Version 2 also carries the cluster secret, so a node started with ``--ticket`` can prove it to
its peers: such a ticket is a credential (anyone holding it may join the Raft traffic), and a
node hands one out only to an admin (``GET /cluster-ticket`` with the admin token). A ticket
without a secret is still written as version 1.

Base32 is lowercase without padding (RFC 4648 alphabet), so a ticket survives shells, URLs and
DNS-ish contexts. The CRC32 (big-endian, over version byte and body) catches typos and
truncation; decoding is strict and canonical (re-encoding a decoded ticket gives the same
string), so two spellings never mean the same ticket. Every way a string can be wrong raises
:class:`TicketError` with a message saying which.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from dataclasses import dataclass, field

import msgpack

from aspen.config import MAX_NODE_ID, check_address
from aspen.errors import AspenError

PREFIX = "aspen"
VERSION = 1
VERSION_WITH_SECRET = 2
MAX_PEERS = 16
MAX_CLUSTER_ID = 128
MIN_SECRET = 16
MAX_SECRET = 1024
_CRC = struct.Struct(">I")


class TicketError(AspenError):
    """A ticket string (or the values for a new ticket) is not acceptable."""


@dataclass(frozen=True, slots=True)
class TicketPeer:
    """One node in a ticket: its id and where its Raft transport and HTTP API listen."""

    id: int
    raft: str
    http: str

    def __post_init__(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int):
            raise TicketError(f"peer id must be an integer, got {self.id!r}")
        if not 0 < self.id <= MAX_NODE_ID:
            raise TicketError(f"peer id must be positive, got {self.id}")
        for name in ("raft", "http"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TicketError(f"peer {self.id} {name} address must be a string")
            try:
                check_address(value, allow_port_zero=False)
            except ValueError as e:
                raise TicketError(f"peer {self.id} {name}: {e}") from None


@dataclass(frozen=True, slots=True)
class Ticket:
    """A cluster id and up to :data:`MAX_PEERS` peers (at least one, ids unique), and maybe
    the cluster secret."""

    cluster_id: str
    peers: tuple[TicketPeer, ...]
    secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.cluster_id, str):
            raise TicketError("cluster id must be a string")
        if len(self.cluster_id) > MAX_CLUSTER_ID:
            raise TicketError(f"cluster id longer than {MAX_CLUSTER_ID} characters")
        if not isinstance(self.peers, tuple) or not all(
            isinstance(p, TicketPeer) for p in self.peers
        ):
            raise TicketError("peers must be a tuple of TicketPeer")
        if not self.peers:
            raise TicketError("a ticket needs at least one peer")
        if len(self.peers) > MAX_PEERS:
            raise TicketError(f"a ticket holds at most {MAX_PEERS} peers, got {len(self.peers)}")
        ids = [p.id for p in self.peers]
        if len(set(ids)) != len(ids):
            raise TicketError(f"peer ids must be unique, got {ids}")
        try:
            self.cluster_id.encode()
        except UnicodeEncodeError:
            raise TicketError("cluster id is not valid Unicode text") from None
        if not isinstance(self.secret, str):
            raise TicketError("secret must be a string")
        if self.secret and not (MIN_SECRET <= len(self.secret) <= MAX_SECRET):
            raise TicketError(f"secret must be {MIN_SECRET}..{MAX_SECRET} characters")

    def encode(self) -> str:
        body: list[object] = [self.cluster_id, [[p.id, p.raft, p.http] for p in self.peers]]
        version = VERSION
        if self.secret:
            body.append(self.secret)
            version = VERSION_WITH_SECRET
        payload = bytes([version]) + msgpack.packb(body, use_bin_type=True)
        blob = payload + _CRC.pack(zlib.crc32(payload))
        return PREFIX + base64.b32encode(blob).decode("ascii").rstrip("=").lower()

    @classmethod
    def decode(cls, text: str) -> Ticket:
        """Parse a ticket; raises :class:`TicketError` saying what is wrong with it."""
        if not isinstance(text, str):
            raise TicketError("a ticket must be a string")
        text = text.strip()
        if not text.startswith(PREFIX):
            raise TicketError(f"not an aspen ticket: it must start with {PREFIX!r}")
        data = text[len(PREFIX) :]
        blob = _b32decode(data)
        if base64.b32encode(blob).decode("ascii").rstrip("=").lower() != data:
            raise TicketError("ticket is not canonical base32 (corrupted?)")
        if len(blob) < 1 + _CRC.size:
            raise TicketError("ticket is too short")
        payload, (crc,) = blob[: -_CRC.size], _CRC.unpack(blob[-_CRC.size :])
        if zlib.crc32(payload) != crc:
            raise TicketError("ticket checksum mismatch (corrupted or mistyped)")
        if payload[0] not in (VERSION, VERSION_WITH_SECRET):
            raise TicketError(f"unsupported ticket version {payload[0]} (this build reads 1, 2)")
        try:
            body = msgpack.unpackb(payload[1:], raw=False, strict_map_key=True)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
            raise TicketError(f"ticket body is undecodable: {e}") from None
        return cls._from_body(body, payload[0])

    @classmethod
    def _from_body(cls, body: object, version: int = VERSION) -> Ticket:
        secret: object = ""
        if version == VERSION_WITH_SECRET:
            if not isinstance(body, list) or len(body) != 3:
                raise TicketError("ticket body must be [cluster_id, peers, secret]")
            cluster_id, peers, secret = body
            if not isinstance(secret, str) or not secret:
                raise TicketError("ticket secret must be a non-empty string")
        else:
            if not isinstance(body, list) or len(body) != 2:
                raise TicketError("ticket body must be [cluster_id, peers]")
            cluster_id, peers = body
        if not isinstance(peers, list):
            raise TicketError("ticket peers must be a list")
        if len(peers) > MAX_PEERS:
            raise TicketError(f"a ticket holds at most {MAX_PEERS} peers, got {len(peers)}")
        parsed = []
        for p in peers:
            if not isinstance(p, list) or len(p) != 3:
                raise TicketError("each ticket peer must be [id, raft, http]")
            parsed.append(TicketPeer(p[0], p[1], p[2]))
        return cls(cluster_id, tuple(parsed), secret)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.encode()


def _b32decode(data: str) -> bytes:
    if not data.isascii() or data != data.lower():
        raise TicketError("ticket must be lowercase base32 after the prefix")
    if not data:
        raise TicketError("ticket is empty after the prefix")
    padded = data.upper() + "=" * (-len(data) % 8)
    try:
        return base64.b32decode(padded)
    except (binascii.Error, ValueError) as e:
        raise TicketError(f"ticket is not valid base32: {e}") from None


__all__ = [
    "MAX_PEERS",
    "PREFIX",
    "VERSION",
    "VERSION_WITH_SECRET",
    "Ticket",
    "TicketError",
    "TicketPeer",
]
