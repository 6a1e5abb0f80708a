from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aspen.errors import ProtocolError
from aspen.kv.commands import Cas, Command, Delete, Put, SetMulti, decode, encode

text = st.text(max_size=20)
commands = st.one_of(
    st.builds(Put, text, text),
    st.builds(Delete, text),
    st.builds(Cas, text, st.none() | text, text),
    st.builds(SetMulti, st.lists(st.tuples(text, text), max_size=5).map(tuple)),
)


@given(commands)
def test_round_trip(cmd: Command) -> None:
    assert decode(encode(cmd)) == cmd


@given(commands)
def test_encoding_is_deterministic(cmd: Command) -> None:
    assert encode(cmd) == encode(decode(encode(cmd)))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xc1",
        msgpack.packb([]),
        msgpack.packb({"a": 1}),
        msgpack.packb([9, "k"]),
        msgpack.packb([1, "k"]),
        msgpack.packb([1, 5, "v"]),
        msgpack.packb([3, "k", 1, "v"]),
        msgpack.packb([4, [["k"]]]),
        msgpack.packb([4, "notalist"]),
    ],
)
def test_malformed_payload_is_a_protocol_error(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(payload)


@given(st.binary(max_size=64))
def test_decoder_never_raises_anything_else(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(data)
