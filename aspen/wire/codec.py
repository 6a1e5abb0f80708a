"""The peer wire format: length-prefixed msgpack frames, encoded and decoded without I/O.

A frame is a 4-byte big-endian body length followed by a msgpack body. Every body is an array
whose first element is a type tag::

    0  Hello                    [0, version, cluster_id, node_id, address(, nonce)]
    1  RequestVote              [1, term, frm, to, last_log_index, last_log_term,
                                    pre_vote, transfer]
    2  RequestVoteResponse      [2, term, frm, to, granted, pre_vote]
    3  AppendEntries            [3, term, frm, to, prev_index, prev_term,
                                    [[term, index, kind, data], ...], commit]
    4  AppendEntriesResponse    [4, term, frm, to, index, reject, hint_index, hint_term]
    5  Heartbeat                [5, term, frm, to, commit, context]
    6  HeartbeatResponse        [6, term, frm, to, context]
    7  InstallSnapshot          [7, term, frm, to,
                                    [meta_index, meta_term, [voters, learners, voters_outgoing]],
                                    offset, data, done]
    8  InstallSnapshotResponse  [8, term, frm, to, snapshot_index, offset, done, reject]
    9  TimeoutNow               [9, term, frm, to]
   10  Challenge                [10, node_id, nonce, proof]      (acceptor -> dialer)
   11  Auth                     [11, proof]                      (dialer -> acceptor)
   12  Ping                     [12]                             (keeps an idle link open)

Integers are unsigned 64-bit, booleans are msgpack booleans, ``data``/``context`` are msgpack
``bin``, node-id sets are arrays (sorted when encoded). A Hello opens every connection; when the
cluster has a secret, Challenge and Auth follow it (see :mod:`aspen.transport.handshake`).

Decoding is strict (msgspec validates every field in C): an unknown tag, a missing or extra
field, a wrong type, a negative integer, trailing bytes or a length prefix above ``max_frame``
raise :class:`~aspen.errors.RemoteProtocolError`, and nothing else. ``encode`` does not
range-check field values (the receiver does); it raises
:class:`~aspen.errors.LocalProtocolError` for a value msgpack cannot hold or an oversize frame.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from aspen.errors import LocalProtocolError, RemoteProtocolError
from aspen.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    EntryKind,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)

PROTOCOL_VERSION = 2
"""Bumped on any incompatible change to the frame layout above (2: Challenge, Auth, Ping)."""

HEADER_SIZE = 4
DEFAULT_MAX_FRAME = 16 << 20
"""Largest body accepted by default (16 MiB): snapshot chunks must stay below it."""
HANDSHAKE_MAX_FRAME = 64 << 10
"""Largest body accepted before the peer is authenticated (64 KiB): a stranger may make the
node hold at most this much per connection."""

_MAX_LENGTH = (1 << 32) - 1


@dataclass(frozen=True, slots=True)
class Hello:
    """The first frame on every peer connection: who is talking, in which cluster.

    ``address`` is the sender's advertised raft address, so a node that was never told where a
    peer lives (a new node contacted by the leader) can still answer it.
    """

    version: int
    cluster_id: str
    node_id: int
    address: str = ""
    nonce: bytes = b""
    """The dialer's challenge to the acceptor; empty when the cluster has no secret."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """The acceptor's answer to a Hello: who it is, its own nonce, and its proof of the secret."""

    node_id: int
    nonce: bytes
    proof: bytes


@dataclass(frozen=True, slots=True)
class Auth:
    """The dialer's proof of the secret, over both nonces; Raft frames may follow it."""

    proof: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """Sent by a dialer whose link is idle, so the acceptor's idle timeout does not close it."""


Control = Hello | Challenge | Auth | Ping
"""Frames about the connection itself, never handed to Raft."""
Frame = Message | Control
"""Anything a frame can carry."""


# --- encoding ----------------------------------------------------------------------------------

_encoder = msgspec.msgpack.Encoder()


def _ids(s: frozenset[int]) -> list[int]:
    return sorted(s)


def _enc_hello(m: Hello) -> tuple[Any, ...]:
    if m.nonce:
        return (0, m.version, m.cluster_id, m.node_id, m.address, m.nonce)
    return (0, m.version, m.cluster_id, m.node_id, m.address)


def _enc_challenge(m: Challenge) -> tuple[Any, ...]:
    return (10, m.node_id, m.nonce, m.proof)


def _enc_auth(m: Auth) -> tuple[Any, ...]:
    return (11, m.proof)


def _enc_ping(m: Ping) -> tuple[Any, ...]:
    return (12,)


def _enc_rv(m: RequestVote) -> tuple[Any, ...]:
    return (1, m.term, m.frm, m.to, m.last_log_index, m.last_log_term, m.pre_vote, m.transfer)


def _enc_rvr(m: RequestVoteResponse) -> tuple[Any, ...]:
    return (2, m.term, m.frm, m.to, m.granted, m.pre_vote)


def _enc_ae(m: AppendEntries) -> tuple[Any, ...]:
    ents = [(e.term, e.index, e.kind, e.data) for e in m.entries]
    return (3, m.term, m.frm, m.to, m.prev_index, m.prev_term, ents, m.commit)


def _enc_aer(m: AppendEntriesResponse) -> tuple[Any, ...]:
    return (4, m.term, m.frm, m.to, m.index, m.reject, m.hint_index, m.hint_term)


def _enc_hb(m: Heartbeat) -> tuple[Any, ...]:
    return (5, m.term, m.frm, m.to, m.commit, m.context)


def _enc_hbr(m: HeartbeatResponse) -> tuple[Any, ...]:
    return (6, m.term, m.frm, m.to, m.context)


def _enc_is(m: InstallSnapshot) -> tuple[Any, ...]:
    cs = m.meta.conf_state
    conf = (_ids(cs.voters), _ids(cs.learners), _ids(cs.voters_outgoing))
    return (7, m.term, m.frm, m.to, (m.meta.index, m.meta.term, conf), m.offset, m.data, m.done)


def _enc_isr(m: InstallSnapshotResponse) -> tuple[Any, ...]:
    return (8, m.term, m.frm, m.to, m.snapshot_index, m.offset, m.done, m.reject)


def _enc_tn(m: TimeoutNow) -> tuple[Any, ...]:
    return (9, m.term, m.frm, m.to)


_ENCODERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    Hello: _enc_hello,
    RequestVote: _enc_rv,
    RequestVoteResponse: _enc_rvr,
    AppendEntries: _enc_ae,
    AppendEntriesResponse: _enc_aer,
    Heartbeat: _enc_hb,
    HeartbeatResponse: _enc_hbr,
    InstallSnapshot: _enc_is,
    InstallSnapshotResponse: _enc_isr,
    TimeoutNow: _enc_tn,
    Challenge: _enc_challenge,
    Auth: _enc_auth,
    Ping: _enc_ping,
}


def encode(item: Frame, max_frame: int | None = None) -> bytes:
    """One complete frame (length prefix included) for a message or a Hello.

    Raises ``LocalProtocolError`` if ``item`` is not a wire type, holds a value msgpack cannot
    carry (an integer outside 64 bits, a non-bytes payload), or its body exceeds ``max_frame``.
    """
    to_tuple = _ENCODERS.get(type(item))
    if to_tuple is None:
        raise LocalProtocolError(f"{type(item).__name__} is not a wire message")
    try:
        body = _encoder.encode(to_tuple(item))
    except (TypeError, OverflowError, msgspec.EncodeError) as e:
        raise LocalProtocolError(f"cannot encode {type(item).__name__}: {e}") from None
    n = len(body)
    limit = _MAX_LENGTH if max_frame is None else max_frame
    if n > limit:
        raise LocalProtocolError(f"{type(item).__name__} frame of {n} bytes exceeds {limit}")
    return n.to_bytes(4, "big") + body


# --- decoding ----------------------------------------------------------------------------------

U64 = Annotated[int, msgspec.Meta(ge=0)]


class _Hello(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=0):
    version: U64
    cluster_id: str
    node_id: U64
    address: str = ""
    nonce: bytes = b""


class _Challenge(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=10):
    node_id: U64
    nonce: bytes
    proof: bytes


class _Auth(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=11):
    proof: bytes


class _Ping(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=12):
    pass


class _RV(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=1):
    term: U64
    frm: U64
    to: U64
    last_log_index: U64
    last_log_term: U64
    pre_vote: bool
    transfer: bool


class _RVR(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=2):
    term: U64
    frm: U64
    to: U64
    granted: bool
    pre_vote: bool


class _Entry(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    term: U64
    index: U64
    kind: EntryKind
    data: bytes


class _AE(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=3):
    term: U64
    frm: U64
    to: U64
    prev_index: U64
    prev_term: U64
    entries: tuple[_Entry, ...]
    commit: U64


class _AER(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=4):
    term: U64
    frm: U64
    to: U64
    index: U64
    reject: bool
    hint_index: U64
    hint_term: U64


class _HB(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=5):
    term: U64
    frm: U64
    to: U64
    commit: U64
    context: bytes


class _HBR(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=6):
    term: U64
    frm: U64
    to: U64
    context: bytes


class _ConfState(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    voters: frozenset[U64]
    learners: frozenset[U64]
    voters_outgoing: frozenset[U64]


class _SnapshotMeta(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    index: U64
    term: U64
    conf_state: _ConfState


class _IS(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=7):
    term: U64
    frm: U64
    to: U64
    meta: _SnapshotMeta
    offset: U64
    data: bytes
    done: bool


class _ISR(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=8):
    term: U64
    frm: U64
    to: U64
    snapshot_index: U64
    offset: U64
    done: bool
    reject: bool


class _TN(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag=9):
    term: U64
    frm: U64
    to: U64


_Wire = (
    _Hello | _RV | _RVR | _AE | _AER | _HB | _HBR | _IS | _ISR | _TN | _Challenge | _Auth | _Ping
)
_decoder = msgspec.msgpack.Decoder(_Wire)


# Each wire struct mirrors one dataclass field for field (same names), so msgspec.convert builds
# the frozen dataclass in C: about twice as fast as calling its __init__ for AppendEntries.
_TARGETS: dict[type, type] = {
    _Hello: Hello,
    _RV: RequestVote,
    _RVR: RequestVoteResponse,
    _AE: AppendEntries,
    _AER: AppendEntriesResponse,
    _HB: Heartbeat,
    _HBR: HeartbeatResponse,
    _IS: InstallSnapshot,
    _ISR: InstallSnapshotResponse,
    _TN: TimeoutNow,
    _Challenge: Challenge,
    _Auth: Auth,
    _Ping: Ping,
}
_convert = msgspec.convert
_unpack_length = struct.Struct(">I").unpack_from


def decode_body(body: bytes | bytearray | memoryview) -> Frame:
    """Decode one frame body (without its length prefix); ``RemoteProtocolError`` if invalid."""
    try:
        s = _decoder.decode(body)
        frame: Frame = _convert(s, _TARGETS[type(s)], from_attributes=True)
    except (ValueError, OverflowError) as e:  # msgspec's errors and bad UTF-8 are ValueErrors
        raise RemoteProtocolError(f"invalid frame: {e}") from None
    return frame


class FrameDecoder:
    """Turns a byte stream into frames, whatever the chunking (no I/O: feed it bytes).

    Two ways to drive it: ``feed(data)`` returns every frame ``data`` completes; or
    ``receive(data)`` then ``next_frame()`` until it returns None, one frame at a time, so the
    caller may change ``max_frame`` between frames (a connection raises it once its peer is
    authenticated: frames after the proof, in the same read, get the new limit).

    At most ``max_frame`` body bytes (plus the unread rest of the last ``receive``) are held:
    a length prefix above it is refused as soon as its 4 bytes arrive. After it raises, the
    stream is unusable: every later call raises again, and the caller should close the
    connection.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._pos = 0
        """Invariant: ``_buf[:_pos]`` was already decoded and is dropped on the next receive."""
        self._error: RemoteProtocolError | None = None
        self.max_frame = max_frame

    @property
    def max_frame(self) -> int:
        """The largest body accepted from now on."""
        return self._max_frame

    @max_frame.setter
    def max_frame(self, value: int) -> None:
        if not 0 < value <= _MAX_LENGTH:
            raise ValueError(f"max_frame must be in 1..{_MAX_LENGTH}, got {value}")
        self._max_frame = value

    @property
    def buffered(self) -> int:
        """Bytes held for frames not yet returned."""
        return len(self._buf) - self._pos

    def receive(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` to the stream; frames come out of :meth:`next_frame`."""
        if self._error is not None:
            raise self._error
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None until more bytes arrive.

        Raises ``RemoteProtocolError`` on an invalid body or a length prefix above
        ``max_frame`` (checked as soon as the 4 prefix bytes arrive, before any body is held).
        """
        if self._error is not None:
            raise self._error
        buf, pos = self._buf, self._pos
        if len(buf) - pos < HEADER_SIZE:
            return None
        try:
            (length,) = _unpack_length(buf, pos)
            if length > self._max_frame:
                raise RemoteProtocolError(
                    f"frame length {length} exceeds the limit {self._max_frame}"
                )
            end = pos + HEADER_SIZE + length
            if end > len(buf):
                return None
            with memoryview(buf) as view:
                frame = decode_body(view[pos + HEADER_SIZE : end])
        except RemoteProtocolError as e:
            self._error = e
            self._buf = bytearray()
            self._pos = 0
            raise
        self._pos = end
        return frame

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Consume ``data``; return every frame it completes, in order.

        Raises as :meth:`next_frame` does. Frames completed by ``data`` before the bad one are
        lost with it: the connection is being closed anyway. (The same loop as
        ``next_frame``, unrolled: this is the hot path of every peer connection.)
        """
        self.receive(data)
        buf = self._buf
        out: list[Frame] = []
        pos = self._pos
        end_of_data = len(buf)
        limit = self._max_frame
        try:
            with memoryview(buf) as view:
                while end_of_data - pos >= HEADER_SIZE:
                    (length,) = _unpack_length(view, pos)
                    if length > limit:
                        raise RemoteProtocolError(
                            f"frame length {length} exceeds the limit {limit}"
                        )
                    end = pos + HEADER_SIZE + length
                    if end > end_of_data:
                        break
                    out.append(decode_body(view[pos + HEADER_SIZE : end]))
                    pos = end
        except RemoteProtocolError as e:
            self._error = e
            self._buf = bytearray()
            self._pos = 0
            raise
        if pos:
            del buf[:pos]
        self._pos = 0
        return out
