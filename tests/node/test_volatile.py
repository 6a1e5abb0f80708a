from __future__ import annotations

from pathlib import Path

from aspen.kv.commands import Put, encode
from aspen.node.volatile import VolatileStorage
from aspen.raft.messages import ConfState, Entry, HardState

CONF = ConfState(voters=frozenset({1, 2, 3}))


def put(index: int, key: str, term: int = 1) -> Entry:
    return Entry(term=term, index=index, data=encode(Put(key, f"v{index}")))


def test_checkpoint_round_trip_restores_log_state_and_kv(tmp_path: Path) -> None:
    s = VolatileStorage(tmp_path, interval=3600)
    entries = [put(i, f"k{i}") for i in range(1, 6)]
    s.write_ready(HardState(1, 1, 5), entries, None, entries, CONF)
    s.create_snapshot(3, CONF, s.snapshot_image()[2])
    s.compact(3)
    s.checkpoint()
    again = VolatileStorage(tmp_path, interval=3600)
    assert again.raft.initial_state() == (HardState(1, 1, 5), CONF)
    assert again.first_index() == 4 and again.last_index() == 5
    assert again.raft.entries(4, 6) == entries[3:]
    assert again.raft.snapshot().meta.index == 3
    assert again.get("k5") == "v5" and again.applied_index() == 5
    assert again.read("k5") == ("v5", 5)


def test_acknowledged_writes_after_the_last_checkpoint_are_lost(tmp_path: Path) -> None:
    s = VolatileStorage(tmp_path, interval=3600)
    first = [put(1, "a")]
    s.write_ready(HardState(1, 1, 1), first, None, first, CONF)
    s.checkpoint()
    later = [put(2, "b")]
    s.write_ready(HardState(1, 1, 2), later, None, later, None)
    assert s.get("b") == "v2"  # acknowledged from memory...
    crashed = VolatileStorage(tmp_path, interval=3600)  # ...and gone after a SIGKILL
    assert crashed.get("a") == "v1"
    assert crashed.get("b") is None
    assert crashed.last_index() == 1


def test_checkpoints_happen_on_their_own_at_the_interval(tmp_path: Path) -> None:
    s = VolatileStorage(tmp_path, interval=0.0)
    e = [put(1, "a")]
    s.write_ready(HardState(1, 1, 1), e, None, e, CONF)
    assert VolatileStorage(tmp_path).get("a") == "v1"
