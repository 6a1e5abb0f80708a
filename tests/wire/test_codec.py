from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aspen.errors import LocalProtocolError, RemoteProtocolError
from aspen.raft.messages import (
    MESSAGE_TYPES,
    AppendEntries,
    Entry,
    EntryKind,
    Heartbeat,
    TimeoutNow,
)
from aspen.wire import (
    DEFAULT_MAX_FRAME,
    HANDSHAKE_MAX_FRAME,
    Auth,
    Control,
    Frame,
    FrameDecoder,
    Hello,
    Ping,
    encode,
)
from tests.wire.strategies import MESSAGE_STRATEGIES, controls, frames, hellos


def frame(body: object) -> bytes:
    raw: bytes = msgpack.packb(body, use_bin_type=True)
    return len(raw).to_bytes(4, "big") + raw


def feed_all(data: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> list[Frame]:
    return FrameDecoder(max_frame).feed(data)


def test_every_message_type_has_a_strategy() -> None:
    assert set(MESSAGE_STRATEGIES) == set(MESSAGE_TYPES)


@pytest.mark.parametrize("kind", MESSAGE_TYPES, ids=lambda t: t.__name__)
@given(data=st.data())
def test_round_trip_every_message_type(kind: type, data: st.DataObject) -> None:
    m = data.draw(MESSAGE_STRATEGIES[kind])
    assert feed_all(encode(m)) == [m]


@given(hellos)
def test_round_trip_hello(h: Hello) -> None:
    assert feed_all(encode(h)) == [h]


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(controls)
def test_round_trip_handshake_frames(c: Control) -> None:
    assert feed_all(encode(c)) == [c]


def test_handshake_frame_layouts() -> None:
    assert msgpack.unpackb(encode(Hello(2, "c", 3, "h:1", b"n"))[4:]) == [0, 2, "c", 3, "h:1", b"n"]
    assert msgpack.unpackb(encode(Auth(b"p"))[4:]) == [11, b"p"]
    assert msgpack.unpackb(encode(Ping())[4:]) == [12]


@settings(deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=12), st.integers(8, 256))
@example([b"\x00\x00\x01\x00" + b"x" * 200], 100)
def test_garbage_never_makes_the_decoder_hold_more_than_one_frame(
    chunks: list[bytes], limit: int
) -> None:
    """Whatever a stranger sends, once the complete frames are taken out the decoder holds at
    most one partial frame of at most ``max_frame`` bytes (or it has failed and holds none)."""
    dec = FrameDecoder(max_frame=limit)
    try:
        for c in chunks:
            dec.receive(c)
            while dec.next_frame() is not None:
                pass
            assert dec.buffered <= 4 + limit
    except RemoteProtocolError:
        assert dec.buffered == 0


def test_the_limit_may_be_raised_between_frames_of_one_read() -> None:
    """A connection raises its limit once the peer is authenticated: a big frame right after
    the proof, in the same read, is judged by the new limit."""
    big = Heartbeat(1, 2, 3, 4, b"x" * (HANDSHAKE_MAX_FRAME + 10))
    dec = FrameDecoder(HANDSHAKE_MAX_FRAME)
    dec.receive(encode(Auth(b"p")) + encode(big))
    assert dec.next_frame() == Auth(b"p")
    dec.max_frame = DEFAULT_MAX_FRAME
    assert dec.next_frame() == big
    assert dec.next_frame() is None and dec.buffered == 0


def test_a_big_frame_before_the_limit_is_raised_is_refused() -> None:
    big = Heartbeat(1, 2, 3, 4, b"x" * (HANDSHAKE_MAX_FRAME + 10))
    dec = FrameDecoder(HANDSHAKE_MAX_FRAME)
    dec.receive(encode(big)[:1000])
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        dec.next_frame()
    assert dec.buffered == 0


@given(st.lists(frames, max_size=8), st.data())
def test_any_chunking_of_the_stream_yields_the_same_frames(
    items: list[Frame], data: st.DataObject
) -> None:
    stream = b"".join(encode(m) for m in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    dec = FrameDecoder()
    out: list[Frame] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        out.extend(dec.feed(stream[prev:cut]))
        prev = cut
    assert out == items
    assert dec.buffered == 0


@given(st.lists(st.binary(max_size=64), max_size=8))
@example([b"\x00\x00\x00\x01\xc1"])  # 0xc1 is never used in msgpack
@example([b"\x00\x00\x00\x03\x92\x07\x01"])
@example([b"\x00\x00\x00\x00"])
def test_garbage_only_ever_raises_remote_protocol_error(chunks: list[bytes]) -> None:
    dec = FrameDecoder(max_frame=1024)
    try:
        for c in chunks:
            dec.feed(c)
    except RemoteProtocolError:
        pass


@given(frames, st.data())
def test_corrupted_frames_only_ever_raise_remote_protocol_error(
    m: Frame, data: st.DataObject
) -> None:
    raw = bytearray(encode(m))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(RemoteProtocolError):
        FrameDecoder(max_frame=1 << 16).feed(bytes(raw))


def test_oversize_length_is_refused_before_the_body_arrives() -> None:
    dec = FrameDecoder(max_frame=100)
    assert dec.feed(b"\x00\x00") == []
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        dec.feed(b"\x00\x65")  # 101: only the prefix has been sent
    assert dec.buffered == 0


def test_frame_at_exactly_the_limit_is_accepted() -> None:
    m = Heartbeat(1, 2, 3, 4, b"x" * 50)
    raw = encode(m)
    assert feed_all(raw, max_frame=len(raw) - 4) == [m]
    with pytest.raises(RemoteProtocolError):
        feed_all(raw, max_frame=len(raw) - 5)


def test_decoder_stays_failed_after_an_error() -> None:
    dec = FrameDecoder()
    with pytest.raises(RemoteProtocolError):
        dec.feed(frame([42]))
    with pytest.raises(RemoteProtocolError):
        dec.feed(encode(TimeoutNow(1, 2, 3)))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ([42, 1, 2, 3], "unknown tag"),
        (["x", 1, 2, 3], "string tag"),
        ({"tag": 9}, "map instead of array"),
        ([], "empty array"),
        (7, "not an array"),
        ([9, 1, 2], "missing field"),
        ([9, 1, 2, 3, 4], "extra field"),
        ([9, 1, -2, 3], "negative id"),
        ([9, 1, 2, True], "bool where an int belongs"),
        ([9, 1.0, 2, 3], "float where an int belongs"),
        ([5, 1, 2, 3, 4, "ctx"], "str where bytes belong"),
        ([2, 1, 2, 3, 1, 0], "int where a bool belongs"),
        ([3, 1, 2, 3, 0, 0, [[1, 1, 7, b""]], 0], "unknown entry kind"),
        ([3, 1, 2, 3, 0, 0, [[1, 1, 0]], 0], "short entry"),
        ([0, 1, 5, 2], "int cluster id in hello"),
        ([0, 1, b"c", 2], "bytes cluster id in hello"),
    ],
)
def test_wrong_shapes_are_remote_errors(body: object, why: str) -> None:
    with pytest.raises(RemoteProtocolError):
        feed_all(frame(body))


def test_invalid_utf8_is_a_remote_error() -> None:
    body = b"\x94\x00\x01\xa1\x80\x02"  # [0, 1, <str with byte 0x80>, 2]
    with pytest.raises(RemoteProtocolError):
        feed_all(len(body).to_bytes(4, "big") + body)


def test_trailing_bytes_inside_a_body_are_refused() -> None:
    raw = encode(TimeoutNow(1, 2, 3))
    body = raw[4:] + b"\x00"
    with pytest.raises(RemoteProtocolError, match="trailing"):
        feed_all(len(body).to_bytes(4, "big") + body)


def test_layout_is_a_tagged_array() -> None:
    m = AppendEntries(7, 1, 2, 10, 6, (Entry(7, 11, EntryKind.CONF_CHANGE, b"cc"),), 9)
    assert msgpack.unpackb(encode(m)[4:]) == [3, 7, 1, 2, 10, 6, [[7, 11, 1, b"cc"]], 9]
    assert msgpack.unpackb(encode(Hello(1, "c", 3))[4:]) == [0, 1, "c", 3, ""]
    assert msgpack.unpackb(encode(Hello(1, "c", 3, "h:1"))[4:]) == [0, 1, "c", 3, "h:1"]


def test_encode_refuses_what_the_wire_cannot_carry() -> None:
    with pytest.raises(LocalProtocolError):
        encode(TimeoutNow(1 << 64, 2, 3))
    with pytest.raises(LocalProtocolError):
        encode("not a message")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="exceeds"):
        encode(Heartbeat(1, 2, 3, 4, b"x" * 100), max_frame=50)


def test_max_frame_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(0)
