"""The contract every implementation of aspen.raft.storage.Storage must meet.

Other implementations (LMDB) join by adding a factory to STORAGE_FACTORIES' parametrization:
each factory returns an empty storage with the write side MemoryStorage has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aspen.raft.errors import Compacted, Unavailable
from aspen.raft.messages import ConfState, Entry, HardState, Snapshot, SnapshotMeta
from aspen.raft.storage import MemoryStorage

StorageFactory = Callable[[Any], Any]


def memory_storage(_tmp_path: Any) -> MemoryStorage:
    return MemoryStorage()


STORAGE_FACTORIES: list[StorageFactory] = [memory_storage]


@pytest.fixture(params=STORAGE_FACTORIES, ids=lambda f: f.__name__)
def storage(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    s = request.param(tmp_path)
    yield s
    close = getattr(s, "close", None)
    if close:
        close()


def ents(*terms: int, start: int = 1) -> list[Entry]:
    return [
        Entry(term=t, index=start + i, data=f"e{start + i}".encode()) for i, t in enumerate(terms)
    ]


def test_empty_storage(storage: Any) -> None:
    assert storage.first_index() == 1
    assert storage.last_index() == 0
    assert storage.term(0) == 0
    assert storage.snapshot().empty
    hs, cs = storage.initial_state()
    assert hs == HardState() and cs == ConfState()


def test_append_and_read(storage: Any) -> None:
    storage.append(ents(1, 1, 2))
    assert storage.last_index() == 3
    assert [e.index for e in storage.entries(1, 4)] == [1, 2, 3]
    assert storage.entries(2, 3) == ents(1, 1, 2)[1:2]
    assert storage.term(3) == 2
    with pytest.raises(Unavailable):
        storage.term(4)
    with pytest.raises(Unavailable):
        storage.entries(2, 5)


def test_append_replaces_conflicting_suffix(storage: Any) -> None:
    storage.append(ents(1, 1, 1, 1))
    storage.append(ents(2, 2, start=2))
    assert storage.last_index() == 3
    assert [e.term for e in storage.entries(1, 4)] == [1, 2, 2]


def test_entries_respects_max_bytes_but_returns_one(storage: Any) -> None:
    storage.append(ents(1, 1, 1, 1))
    one = storage.entries(1, 5, max_bytes=1)
    assert len(one) == 1
    two = storage.entries(1, 5, max_bytes=2 * ents(1)[0].size())
    assert len(two) == 2


def test_hard_state_round_trip(storage: Any) -> None:
    storage.set_hard_state(HardState(term=3, vote=2, commit=1))
    assert storage.initial_state()[0] == HardState(term=3, vote=2, commit=1)


def test_snapshot_and_compact(storage: Any) -> None:
    storage.append(ents(1, 1, 2, 2, 3))
    cs = ConfState(voters=frozenset({1, 2, 3}))
    snap = storage.create_snapshot(3, cs, b"image")
    assert snap.meta == SnapshotMeta(index=3, term=2, conf_state=cs)
    storage.compact(3)
    assert storage.first_index() == 4
    assert storage.term(3) == 2
    with pytest.raises(Compacted):
        storage.term(2)
    with pytest.raises(Compacted):
        storage.entries(3, 5)
    assert [e.index for e in storage.entries(4, 6)] == [4, 5]
    assert storage.snapshot().data == b"image"


def test_apply_snapshot_discards_conflicting_log(storage: Any) -> None:
    storage.append(ents(1, 1, 1))
    cs = ConfState(voters=frozenset({1, 2}))
    storage.apply_snapshot(Snapshot(SnapshotMeta(index=10, term=4, conf_state=cs), b"img"))
    assert storage.first_index() == 11
    assert storage.last_index() == 10
    assert storage.term(10) == 4
    assert storage.initial_state()[1] == cs
    storage.append(ents(4, start=11))
    assert storage.last_index() == 11


def test_apply_snapshot_keeps_matching_suffix(storage: Any) -> None:
    storage.append(ents(1, 1, 2, 2))
    storage.apply_snapshot(Snapshot(SnapshotMeta(index=2, term=1), b""))
    assert storage.first_index() == 3
    assert storage.last_index() == 4


def test_older_snapshot_is_ignored(storage: Any) -> None:
    storage.apply_snapshot(Snapshot(SnapshotMeta(index=5, term=2), b"new"))
    storage.apply_snapshot(Snapshot(SnapshotMeta(index=3, term=1), b"old"))
    assert storage.snapshot().meta.index == 5
