"""Commands carried in Raft entries, and their results.

A command is decided once (by its position in the log) and then applied on every node by
:func:`aspen.kv.state_machine.execute`, so the encoding must be deterministic and the decoder
strict: a node must refuse a payload it does not understand rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from aspen.errors import ProtocolError

MAX_KEY_BYTES = 4096
MAX_VALUE_BYTES = 1 << 20
MAX_MULTI_KEYS = 100


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


@dataclass(frozen=True, slots=True)
class Cas:
    """Set ``key`` to ``new`` only if its current value is ``expected`` (None = must be absent)."""

    key: str
    expected: str | None
    new: str


@dataclass(frozen=True, slots=True)
class SetMulti:
    """Set several keys atomically: all are written in the one entry."""

    items: tuple[tuple[str, str], ...]


Command = Put | Delete | Cas | SetMulti


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What applying a command did.

    ``ok`` is False only for a CAS whose expectation did not hold; ``previous`` is the value
    the key had before (for CAS: the current value that was compared; for Delete: the value
    removed, None if the key was absent).
    """

    ok: bool = True
    previous: str | None = None


_PUT, _DELETE, _CAS, _SET_MULTI = 1, 2, 3, 4


def encode(cmd: Command) -> bytes:
    match cmd:
        case Put(key, value):
            body: list[object] = [_PUT, key, value]
        case Delete(key):
            body = [_DELETE, key]
        case Cas(key, expected, new):
            body = [_CAS, key, expected, new]
        case SetMulti(items):
            body = [_SET_MULTI, [list(kv) for kv in items]]
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


def _str(x: object, what: str) -> str:
    if not isinstance(x, str):
        raise ProtocolError(f"command field {what} must be a string, got {type(x).__name__}")
    return x


def decode(data: bytes) -> Command:
    """Decode one command; raises ProtocolError on anything malformed."""
    try:
        body = msgpack.unpackb(data, raw=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise ProtocolError(f"undecodable command: {e}") from None
    if not isinstance(body, list) or not body:
        raise ProtocolError("command must be a non-empty array")
    tag, *args = body
    match tag, len(args):
        case 1, 2:
            return Put(_str(args[0], "key"), _str(args[1], "value"))
        case 2, 1:
            return Delete(_str(args[0], "key"))
        case 3, 3:
            expected = None if args[1] is None else _str(args[1], "expected")
            return Cas(_str(args[0], "key"), expected, _str(args[2], "new"))
        case 4, 1 if isinstance(args[0], list):
            items = []
            for kv in args[0]:
                if not isinstance(kv, list) or len(kv) != 2:
                    raise ProtocolError("set-multi items must be [key, value] pairs")
                items.append((_str(kv[0], "key"), _str(kv[1], "value")))
            return SetMulti(tuple(items))
    raise ProtocolError(f"unknown command tag {tag!r} with {len(args)} fields")
