"""The peer wire format: length-prefixed msgpack frames, encoded and decoded without I/O.

A frame is a 4-byte big-endian body length followed by a msgpack body. Every body is an array
whose first element is a type tag::

    0  Hello                    [0, version, cluster_id, node_id]
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

Integers are unsigned 64-bit, booleans are msgpack booleans, ``data``/``context`` are msgpack
``bin``, node-id sets are arrays (sorted when encoded). A Hello opens every connection.

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

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change to the frame layout above."""

HEADER_SIZE = 4
DEFAULT_MAX_FRAME = 16 << 20
"""Largest body accepted by default (16 MiB): snapshot chunks must stay below it."""

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


Frame = Message | Hello
"""Anything a frame can carry."""


# --- encoding ----------------------------------------------------------------------------------

_encoder = msgspec.msgpack.Encoder()


def _ids(s: frozenset[int]) -> list[int]:
    return sorted(s)


def _enc_hello(m: Hello) -> tuple[Any, ...]:
    return (0, m.version, m.cluster_id, m.node_id, m.address)


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


_Wire = _Hello | _RV | _RVR | _AE | _AER | _HB | _HBR | _IS | _ISR | _TN
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

    After it raises, the stream is unusable: every later ``feed`` raises again, and the caller
    should close the connection.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if not 0 < max_frame <= _MAX_LENGTH:
            raise ValueError(f"max_frame must be in 1..{_MAX_LENGTH}, got {max_frame}")
        self.max_frame = max_frame
        self._buf = bytearray()
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for a frame that has not fully arrived."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Consume ``data``; return every frame it completes, in order.

        Raises ``RemoteProtocolError`` on an invalid body or a length prefix above
        ``max_frame`` (checked as soon as the 4 prefix bytes arrive, before any body is held).
        Frames completed by ``data`` before the bad one are lost with it: the connection is
        being closed anyway.
        """
        if self._error is not None:
            raise self._error
        buf = self._buf
        buf += data
        out: list[Frame] = []
        pos = 0
        end_of_data = len(buf)
        try:
            with memoryview(buf) as view:
                while end_of_data - pos >= HEADER_SIZE:
                    (length,) = _unpack_length(view, pos)
                    if length > self.max_frame:
                        raise RemoteProtocolError(
                            f"frame length {length} exceeds the limit {self.max_frame}"
                        )
                    end = pos + HEADER_SIZE + length
                    if end > end_of_data:
                        break
                    out.append(decode_body(view[pos + HEADER_SIZE : end]))
                    pos = end
        except RemoteProtocolError as e:
            self._error = e
            self._buf = bytearray()
            raise
        if pos:
            del buf[:pos]
        return out
