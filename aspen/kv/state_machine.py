"""How commands change a key-value map, independent of where the map lives.

``execute`` holds the semantics once; :class:`MemoryKV` (simulator, tests) and the LMDB state
machine (``aspen.storage``) both call it, each over its own :class:`KVView`. Snapshots use one
format everywhere (``encode_snapshot`` / ``decode_snapshot``) so a snapshot taken by one
implementation restores into the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import msgpack

from aspen.errors import ProtocolError
from aspen.kv.commands import Cas, Command, CommandResult, Delete, Put, SetMulti


class KVView(Protocol):
    """The map one command is applied to (e.g. one LMDB write transaction)."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


def execute(view: KVView, cmd: Command) -> CommandResult:
    """Apply ``cmd`` to ``view``; deterministic, so every replica ends in the same state."""
    match cmd:
        case Put(key, value):
            view.put(key, value)
            return CommandResult()
        case Delete(key):
            previous = view.get(key)
            if previous is not None:
                view.delete(key)
            return CommandResult(previous=previous)
        case Cas(key, expected, new):
            current = view.get(key)
            if current != expected:
                return CommandResult(ok=False, previous=current)
            view.put(key, new)
            return CommandResult(previous=current)
        case SetMulti(items):
            for key, value in items:
                view.put(key, value)
            return CommandResult()


_SNAPSHOT_VERSION = 1


def encode_snapshot(applied: int, items: Iterable[tuple[str, str]]) -> bytes:
    """One deterministic image: version, applied index, then sorted key/value pairs."""
    packer = msgpack.Packer(use_bin_type=True)
    pairs = sorted(items)
    out = [packer.pack(_SNAPSHOT_VERSION), packer.pack(applied), packer.pack(len(pairs))]
    out.extend(packer.pack(kv) for kv in pairs)
    return b"".join(out)


def decode_snapshot(data: bytes) -> tuple[int, Iterator[tuple[str, str]]]:
    """The applied index and the pairs of an image made by ``encode_snapshot``."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    try:
        version = unpacker.unpack()
        if version != _SNAPSHOT_VERSION:
            raise ProtocolError(f"unknown snapshot version {version!r}")
        applied = unpacker.unpack()
        count = unpacker.unpack()
    except (msgpack.OutOfData, ValueError) as e:
        raise ProtocolError(f"truncated or corrupt snapshot: {e}") from None

    def pairs() -> Iterator[tuple[str, str]]:
        for _ in range(count):
            try:
                k, v = unpacker.unpack()
            except (msgpack.OutOfData, ValueError, TypeError) as e:
                raise ProtocolError(f"truncated or corrupt snapshot: {e}") from None
            yield k, v

    return applied, pairs()


class MemoryKV:
    """A state machine in a dict: the simulator's, and the reference for the LMDB one."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.applied = 0

    # KVView
    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def put(self, key: str, value: str) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        del self.data[key]

    def apply(self, index: int, cmd: Command) -> CommandResult:
        if index <= self.applied:
            raise ValueError(f"index {index} already applied (applied={self.applied})")
        self.applied = index
        return execute(self, cmd)

    def mark_applied(self, index: int) -> None:
        """Advance past an entry that holds no command (leader no-op, conf change)."""
        self.applied = max(self.applied, index)

    def snapshot(self) -> bytes:
        return encode_snapshot(self.applied, self.data.items())

    def restore(self, image: bytes) -> None:
        applied, pairs = decode_snapshot(image)
        self.data = dict(pairs)
        self.applied = applied
