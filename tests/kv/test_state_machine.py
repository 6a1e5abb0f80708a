from __future__ import annotations

import pytest

from aspen.errors import ProtocolError
from aspen.kv.commands import Cas, CommandResult, Delete, Put, SetMulti
from aspen.kv.state_machine import MemoryKV, decode_snapshot, encode_snapshot


def test_put_get_delete() -> None:
    kv = MemoryKV()
    assert kv.apply(1, Put("a", "1")) == CommandResult()
    assert kv.get("a") == "1"
    assert kv.apply(2, Delete("a")) == CommandResult(previous="1")
    assert kv.get("a") is None
    assert kv.apply(3, Delete("a")) == CommandResult(previous=None)
    assert kv.applied == 3


def test_cas_semantics() -> None:
    kv = MemoryKV()
    assert kv.apply(1, Cas("a", "x", "y")) == CommandResult(ok=False, previous=None)
    assert kv.get("a") is None
    assert kv.apply(2, Cas("a", None, "y")) == CommandResult(ok=True, previous=None)
    assert kv.apply(3, Cas("a", None, "z")) == CommandResult(ok=False, previous="y")
    assert kv.apply(4, Cas("a", "y", "z")) == CommandResult(ok=True, previous="y")
    assert kv.get("a") == "z"


def test_set_multi_writes_all() -> None:
    kv = MemoryKV()
    kv.apply(1, SetMulti((("a", "1"), ("b", "2"))))
    assert kv.data == {"a": "1", "b": "2"}


def test_reapplying_an_index_is_refused() -> None:
    kv = MemoryKV()
    kv.apply(1, Put("a", "1"))
    with pytest.raises(ValueError):
        kv.apply(1, Put("a", "2"))
    assert kv.get("a") == "1"


def test_snapshot_round_trip() -> None:
    kv = MemoryKV()
    kv.apply(1, Put("b", "2"))
    kv.apply(2, Put("a", "1"))
    kv.mark_applied(5)
    other = MemoryKV()
    other.restore(kv.snapshot())
    assert other.data == kv.data and other.applied == 5


def test_snapshot_is_deterministic_regardless_of_insertion_order() -> None:
    assert encode_snapshot(3, [("b", "2"), ("a", "1")]) == encode_snapshot(
        3, [("a", "1"), ("b", "2")]
    )


@pytest.mark.parametrize("image", [b"", b"\x02", encode_snapshot(1, [("a", "1")])[:-2]])
def test_corrupt_snapshot_is_a_protocol_error(image: bytes) -> None:
    with pytest.raises(ProtocolError):
        _applied, pairs = decode_snapshot(image)
        list(pairs)
