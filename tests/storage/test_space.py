"""The admission rule behind a 507: a write must leave room for its log entry, its application,
a snapshot of the state after it, and the reserve; deletes may dip into the reserve."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aspen.storage.lmdb import LmdbStorage
from aspen.storage.space import MIN_RESERVE, PAGE_BYTES, Headroom, MapUsage, pages

MiB = 1 << 20


def test_the_reserve_scales_with_the_map_and_has_a_floor() -> None:
    assert Headroom.for_map(16 * MiB).reserve_bytes == MIN_RESERVE
    assert Headroom.for_map(1 << 30).reserve_bytes == (1 << 30) // 32


def test_a_write_needs_room_for_log_apply_and_a_snapshot_of_the_state() -> None:
    h = Headroom(reserve_bytes=MiB)
    empty = MapUsage(map_bytes=16 * MiB, used_bytes=0, kv_bytes=0)
    assert h.write_refusal(empty, 4 * MiB) is None  # 3 x 4 MiB + reserve fits in 16
    assert h.write_refusal(empty, 5 * MiB) is not None  # 3 x 5 MiB + reserve does not
    # the state a snapshot must copy counts once more than it is stored
    half = MapUsage(map_bytes=16 * MiB, used_bytes=5 * MiB, kv_bytes=5 * MiB)
    assert h.write_refusal(half, MiB) is None  # 5 + 3 + 5 + 1 (+ pages) <= 16
    assert h.write_refusal(half, 2 * MiB) is not None  # 5 + 6 + 5 + 1 > 16


def test_writes_already_admitted_count_against_the_next() -> None:
    h = Headroom(reserve_bytes=MiB)
    empty = MapUsage(map_bytes=16 * MiB, used_bytes=0, kv_bytes=0)
    assert h.write_refusal(empty, MiB) is None
    pending = 4 * h.write_cost(MiB)
    assert h.write_refusal(empty, MiB, pending) is not None


def test_deletes_are_admitted_past_the_write_threshold() -> None:
    h = Headroom(reserve_bytes=MiB)
    full = MapUsage(map_bytes=16 * MiB, used_bytes=15 * MiB, kv_bytes=7 * MiB)
    assert h.write_refusal(full, 10) is not None
    assert h.delete_refusal(full, 10) is None
    brim = MapUsage(map_bytes=16 * MiB, used_bytes=16 * MiB - PAGE_BYTES, kv_bytes=0)
    assert h.delete_refusal(brim, 10) is not None


@given(st.integers(0, 8 * MiB), st.integers(0, 8 * MiB), st.integers(0, 2 * MiB))
def test_whatever_is_admitted_leaves_room_for_a_snapshot(used: int, kv: int, n: int) -> None:
    h = Headroom.for_map(16 * MiB)
    usage = MapUsage(map_bytes=16 * MiB, used_bytes=max(used, kv), kv_bytes=kv)
    if h.write_refusal(usage, n) is None:
        after = usage.used_bytes + 2 * pages(n)  # logged and applied
        assert after + kv + pages(n) + h.reserve_bytes <= usage.map_bytes


def test_lmdb_usage_sees_the_state_machine_and_the_log(tmp_path: Path) -> None:
    from aspen.kv.commands import Put, encode
    from aspen.raft.messages import Entry, HardState

    with LmdbStorage(tmp_path, 1, map_size=16 * MiB) as s:
        before = s.usage()
        assert before.map_bytes == 16 * MiB
        e = Entry(1, 1, data=encode(Put("k", "v" * 300_000)))
        s.write_ready(HardState(1, 0, 1), [e], None, [e], None)
        after = s.usage()
        assert after.kv_bytes >= 300_000 and after.log_bytes >= 300_000
        assert after.used_bytes >= before.used_bytes + 600_000
        assert s.used_fraction() == pytest.approx(after.fraction)


def test_a_ready_that_would_leave_no_room_to_compact_is_refused_and_rolled_back(
    tmp_path: Path,
) -> None:
    from aspen.kv.commands import Put, encode
    from aspen.raft.messages import ConfState, Entry, HardState
    from aspen.storage.errors import StorageFullError

    with LmdbStorage(tmp_path, 1, map_size=2 * MiB) as s:
        index, refused = 0, None
        while refused is None:
            e = Entry(1, index + 1, data=encode(Put(f"k{index}", "v" * 20_000)))
            try:
                s.write_ready(HardState(1, 1, index + 1), [e], None, [e], None)
                index += 1
            except StorageFullError as err:
                refused = err
        assert "kept for compaction" in str(refused)
        assert s.last_index() == s.applied_index() == index  # nothing of it stayed
        assert s.usage().free_bytes >= s.floor_bytes
        # what frees space still commits: a hard-state update, a snapshot, compaction
        s.write_ready(HardState(2, 1, index), [], None, [], None)
        applied, _conf, _image = s.snapshot_image()
        s.create_snapshot(applied, ConfState(voters=frozenset({1})), b"tiny")
        s.compact(applied)
        assert s.usage().log_bytes == 0


def test_snapshot_images_are_stored_in_small_chunks_and_old_whole_images_still_read(
    tmp_path: Path,
) -> None:
    """A multi-MiB image in one value needs that many contiguous free pages, which a map
    fragmented by compaction may lack: chunks of ``IMAGE_CHUNK`` bytes fit in leaf pages."""
    from aspen.raft.messages import ConfState, Entry, HardState
    from aspen.storage import layout as L

    image = bytes(range(256)) * 40 + b"tail"  # 10244 bytes: 6 chunks, the last one short
    with LmdbStorage(tmp_path, 1, map_size=16 * MiB) as s:
        s.write_ready(HardState(1, 1, 1), [Entry(1, 1)], None, [Entry(1, 1)], None)
        conf = ConfState(voters=frozenset({1}))
        s.create_snapshot(1, conf, image)
        assert s.snapshot().data == image
        with s._env.begin() as txn:
            keys = [k for k, _ in txn.cursor(db=s._snap)]
        assert keys == [L.IMAGE_PREFIX + L.u32(n) for n in range(6)]
        with s._env.begin(write=True) as txn:  # what an older version wrote
            txn.drop(s._snap, delete=False)
            txn.put(L.SNAPSHOT_IMAGE, b"whole", db=s._snap)
        assert s.snapshot().data == b"whole"
