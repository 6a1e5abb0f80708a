"""Raft messages as bytes: a sans-IO frame codec (``encode`` / ``FrameDecoder.feed``)."""

from aspen.wire.codec import (
    DEFAULT_MAX_FRAME,
    PROTOCOL_VERSION,
    Frame,
    FrameDecoder,
    Hello,
    decode_body,
    encode,
)

__all__ = [
    "DEFAULT_MAX_FRAME",
    "PROTOCOL_VERSION",
    "Frame",
    "FrameDecoder",
    "Hello",
    "decode_body",
    "encode",
]
