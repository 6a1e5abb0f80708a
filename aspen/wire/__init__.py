"""Raft messages as bytes: a sans-IO frame codec (``encode`` / ``FrameDecoder.feed``)."""

from aspen.wire.codec import (
    DEFAULT_MAX_FRAME,
    HANDSHAKE_MAX_FRAME,
    PROTOCOL_VERSION,
    Auth,
    Challenge,
    Control,
    Frame,
    FrameDecoder,
    Hello,
    Ping,
    decode_body,
    encode,
)

__all__ = [
    "DEFAULT_MAX_FRAME",
    "HANDSHAKE_MAX_FRAME",
    "PROTOCOL_VERSION",
    "Auth",
    "Challenge",
    "Control",
    "Frame",
    "FrameDecoder",
    "Hello",
    "Ping",
    "decode_body",
    "encode",
]
