from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aspen.errors import ProtocolError
from aspen.kv.commands import Cas, Command, CommandResult, Delete, Put, SetMulti, encode
from aspen.kv.state_machine import MemoryKV, decode_snapshot, encode_snapshot
from aspen.raft.errors import InvariantViolation
from aspen.raft.messages import (
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Snapshot,
    SnapshotMeta,
)
from aspen.storage import (
    DataDirError,
    ForeignDataDirError,
    LmdbStorage,
    StorageCorruptError,
    StorageFullError,
)
from aspen.storage import layout as L

MAP = 32 << 20
CS = ConfState(voters=frozenset({1, 2, 3}))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "node"


@pytest.fixture
def store(path: Path) -> Iterator[LmdbStorage]:
    s = LmdbStorage(path, node_id=1, map_size=MAP, fsync="never", cluster_id="c1")
    yield s
    s.close()


def reopen(s: LmdbStorage, **kw: Any) -> LmdbStorage:
    s.close()
    kw.setdefault("map_size", MAP)
    return LmdbStorage(s.path, s.node_id, **kw)


def cmd_entries(cmds: list[Command], start: int = 1, term: int = 1) -> list[Entry]:
    return [Entry(term, start + i, data=encode(c)) for i, c in enumerate(cmds)]


def image(applied: int, items: dict[str, str]) -> bytes:
    return encode_snapshot(applied, items.items())


# --- persist ---------------------------------------------------------------------------------


def test_persist_is_durable_across_reopen(store: LmdbStorage) -> None:
    hs = HardState(term=2, vote=1, commit=2)
    store.persist(hs, cmd_entries([Put("a", "1"), Put("b", "2"), Put("c", "3")]))
    s = reopen(store)
    try:
        assert s.initial_state()[0] == hs
        assert s.last_index() == 3
        assert [e.data for e in s.entries(1, 4)] == [
            encode(c) for c in (Put("a", "1"), Put("b", "2"), Put("c", "3"))
        ]
        assert s.cluster_id == "c1"
    finally:
        s.close()


def test_persist_replaces_a_conflicting_suffix_in_one_write(store: LmdbStorage) -> None:
    store.persist(HardState(1, 1, 0), [Entry(1, i) for i in range(1, 6)])
    store.persist(HardState(2, 2, 0), [Entry(2, 3, data=b"x"), Entry(2, 4, data=b"y")])
    assert [(e.index, e.term) for e in store.entries(1, 5)] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert store.last_index() == 4


def test_persist_with_a_snapshot_installs_log_and_state_machine_together(
    store: LmdbStorage,
) -> None:
    store.write_ready(
        None, cmd_entries([Put("old", "1")]), None, cmd_entries([Put("old", "1")]), None
    )
    snap = Snapshot(SnapshotMeta(10, 3, CS), image(10, {"a": "1", "b": "2"}))
    store.persist(HardState(3, 0, 10), [Entry(3, 11)], snap)
    assert store.first_index() == 11 and store.last_index() == 11
    assert store.applied_index() == 10
    assert store.get("old") is None and store.get("a") == "1"
    assert store.read("a") == ("1", 10) and store.read("old") == (None, 10)
    assert store.conf_state() == CS
    assert store.snapshot() == snap
    # an older snapshot changes nothing
    store.persist(None, [], Snapshot(SnapshotMeta(5, 2, ConfState()), image(5, {})))
    assert store.applied_index() == 10 and store.get("a") == "1"


def test_persist_of_an_invalid_image_changes_nothing(store: LmdbStorage) -> None:
    store.persist(HardState(1, 0, 0), [Entry(1, 1)])
    with pytest.raises(ProtocolError):
        store.persist(HardState(5, 0, 0), [], Snapshot(SnapshotMeta(9, 4, CS), b"not an image"))
    assert store.initial_state()[0] == HardState(1, 0, 0)
    assert store.last_index() == 1 and store.snapshot().empty


def test_a_failing_write_ready_rolls_everything_back(store: LmdbStorage) -> None:
    ents = cmd_entries([Put("a", "1"), Put("b", "2")])
    with pytest.raises(InvariantViolation):  # a gap in what is applied: a driver bug
        store.write_ready(HardState(1, 1, 2), ents, None, ents[1:], None)
    assert store.last_index() == 0
    assert store.initial_state()[0] == HardState()
    assert store.applied_index() == 0 and store.get("b") is None


def test_fsync_modes_set_the_environment_flags(path: Path) -> None:
    with LmdbStorage(path, 1, MAP) as s:
        assert s._env.flags()["sync"] and s._env.flags()["metasync"]
    with LmdbStorage(path, 1, MAP, fsync="never") as s:
        assert not s._env.flags()["sync"] and not s._env.flags()["metasync"]
        s.flush()
    with pytest.raises(ValueError):
        LmdbStorage(path, 1, MAP, fsync="sometimes")  # type: ignore[arg-type]


# --- apply -----------------------------------------------------------------------------------

text = st.text(max_size=6)
keys = st.sampled_from(["", "a", "ab", "b", "\x00peer", "é", "k" * 600, "k" * 600 + "x"])
commands = st.one_of(
    st.builds(Put, keys, text),
    st.builds(Delete, keys),
    st.builds(Cas, keys, st.none() | text, text),
    st.builds(SetMulti, st.lists(st.tuples(keys, text), max_size=4).map(tuple)),
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(commands, max_size=30))
def test_apply_matches_the_memory_state_machine(tmp_path: Path, cmds: list[Command]) -> None:
    ref = MemoryKV()
    expected = [ref.apply(i + 1, c) for i, c in enumerate(cmds)]
    d = tmp_path / f"n{os.urandom(4).hex()}"
    with LmdbStorage(d, 1, MAP, fsync="never") as s:
        ents = cmd_entries(cmds)
        s.persist(None, ents)
        assert s.apply(ents) == expected
        assert s.applied_index() == len(cmds)
        # start_after="" excludes the empty key, as MemoryNodeStorage.scan does
        assert s.scan("", 1000) == ([kv for kv in sorted(ref.data.items()) if kv[0]], False)
        for k in ["", "a", "k" * 600, "k" * 600 + "x", "zz"]:
            assert s.get(k) == ref.get(k)
        applied, _, img = s.snapshot_image()
        assert applied == len(cmds)
        assert img == ref.snapshot()  # the one image format, byte for byte


def test_non_commands_advance_applied_and_bad_payloads_are_skipped(store: LmdbStorage) -> None:
    cc = ConfChange(((ConfChangeKind.ADD_VOTER, 4),)).encode()
    ents = [
        Entry(1, 1),  # leader no-op
        Entry(1, 2, data=encode(Put("a", "1"))),
        Entry(1, 3, EntryKind.CONF_CHANGE, cc),
        Entry(1, 4, data=b"\xc1garbage"),
        Entry(1, 5, data=encode(Cas("a", "1", "2"))),
    ]
    store.persist(None, ents)
    new_cs = ConfState(voters=frozenset({1, 2, 3, 4}))
    results = store.apply(ents, conf_state=new_cs)
    assert results == [None, CommandResult(), None, None, CommandResult(previous="1")]
    assert store.applied_index() == 5
    assert store.conf_state() == new_cs == store.initial_state()[1]
    assert store.get("a") == "2"
    # replays at or below the applied index (after a snapshot, a restart) are skipped
    assert store.apply(ents[3:]) == [None, None]
    assert store.get("a") == "2"
    with pytest.raises(InvariantViolation):
        store.apply([Entry(1, 7, data=encode(Put("b", "1")))])


def test_restore_replaces_the_state_machine(store: LmdbStorage) -> None:
    ents = cmd_entries([Put("x", "1"), Put("y", "2")])
    store.write_ready(None, ents, None, ents, None)
    assert store.restore(Snapshot(SnapshotMeta(7, 2, CS), image(7, {"a": "1", "k" * 900: "v"})))
    assert store.applied_index() == 7 and store.conf_state() == CS
    assert store.scan("", 10) == ([("a", "1"), ("k" * 900, "v")], False)
    assert not store.restore(Snapshot(SnapshotMeta(5, 2, CS), image(5, {})))  # not newer
    with pytest.raises(ProtocolError):  # the image disagrees with its metadata
        store.restore(Snapshot(SnapshotMeta(9, 2, CS), image(8, {})))
    assert store.applied_index() == 7


# --- reads -----------------------------------------------------------------------------------


def fill(s: LmdbStorage, items: dict[str, str]) -> None:
    ents = cmd_entries([SetMulti(tuple(items.items()))], start=s.applied_index() + 1)
    s.write_ready(None, ents, None, ents, None)


def test_scan_is_bounded_prefixed_and_pages(store: LmdbStorage) -> None:
    items = {f"user/{i:03}": str(i) for i in range(25)} | {"other": "o", "user": "u"}
    fill(store, items)
    page, more = store.scan("user/", 10)
    assert [k for k, _ in page] == [f"user/{i:03}" for i in range(10)] and more
    page2, more2 = store.scan("user/", 10, start_after=page[-1][0])
    assert [k for k, _ in page2] == [f"user/{i:03}" for i in range(10, 20)] and more2
    page3, more3 = store.scan("user/", 10, start_after=page2[-1][0])
    assert len(page3) == 5 and not more3
    assert store.scan("user/", 5, start_after="user/024") == ([], False)
    assert store.scan("nope", 5) == ([], False)
    assert store.scan("", 0) == ([], True)
    assert store.scan("user", 100)[0][0] == ("user", "u")


long_keys = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(["", "p" * 477, "p" * 478, "p" * 479, "q" * 500]),
    st.text(alphabet="ab\x00é", max_size=40),
)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(long_keys, st.text(max_size=3), max_size=25),
    st.sampled_from(["", "p", "p" * 478, "p" * 479 + "a", "q" * 500 + "b"]),
    st.integers(0, 30),
    st.data(),
)
def test_scan_orders_long_keys_like_python_does(
    tmp_path: Path, items: dict[str, str], prefix: str, limit: int, data: st.DataObject
) -> None:
    matching = sorted((k, v) for k, v in items.items() if k.startswith(prefix))
    after = data.draw(st.sampled_from(["", *items])) if items else ""
    want = [(k, v) for k, v in matching if k > after]
    d = tmp_path / f"n{os.urandom(4).hex()}"
    with LmdbStorage(d, 1, MAP, fsync="never") as s:
        fill(s, items)
        assert s.scan(prefix, limit, start_after=after) == (want[:limit], len(want) > limit)
        for k, v in items.items():
            assert s.get(k) == v


def test_keys_longer_than_lmdb_allows_round_trip(store: LmdbStorage) -> None:
    k1, k2 = "z" * 4096, "z" * 4095 + "y"
    fill(store, {k1: "one", k2: "two", "": "empty"})
    assert store.get(k1) == "one" and store.get(k2) == "two" and store.get("") == "empty"
    assert len(L.stored_key(k1.encode())) == 511
    ents = cmd_entries([Delete(k1)], start=store.applied_index() + 1)
    assert store.write_ready(None, ents, None, ents, None) == [CommandResult(previous="one")]
    assert store.get(k1) is None and store.get(k2) == "two"


def test_snapshot_image_is_one_consistent_read(
    store: LmdbStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, {"a": "1", "b": "1"})

    def writer_in_between(applied: int, pairs: Iterator[tuple[str, str]]) -> bytes:
        fill(store, {"a": "2", "b": "2", "c": "2"})  # commits while the image is being read
        return encode_snapshot(applied, pairs)

    monkeypatch.setattr("aspen.storage.lmdb.encode_snapshot", writer_in_between)
    applied, cs, img = store.snapshot_image()
    assert applied == 1 and cs == ConfState()
    image_applied, pairs = decode_snapshot(img)
    assert image_applied == 1 and dict(pairs) == {"a": "1", "b": "1"}
    assert store.applied_index() == 2 and store.get("c") == "2"


def test_reads_on_other_threads_see_whole_writes(store: LmdbStorage) -> None:
    stop = threading.Event()
    torn: list[tuple[str | None, str | None]] = []

    def reader() -> None:
        while not stop.is_set():
            page, _ = store.scan("", 10)
            values = {v for _, v in page}
            if len(values) > 1:
                torn.append((page[0][1], page[-1][1]))
            store.term(store.last_index())

    t = threading.Thread(target=reader)
    t.start()
    try:
        for n in range(1, 200):
            fill(store, {"a": str(n), "b": str(n), "c": str(n)})
    finally:
        stop.set()
        t.join()
    assert torn == []


# --- space -----------------------------------------------------------------------------------


def test_compaction_reuses_pages_so_the_file_stays_bounded(path: Path) -> None:
    map_size = 4 << 20
    value = "v" * 3000
    written = 0
    with LmdbStorage(path, 1, map_size, fsync="never") as s:
        index = 0
        while written < 10 * map_size:
            ents = cmd_entries(
                [Put(f"k{(index + i) % 50}", value) for i in range(32)], start=index + 1
            )
            s.write_ready(HardState(1, 1, index + 32), ents, None, ents, None)
            index += 32
            written += sum(len(e.data) for e in ents)
            if index % 320 == 0:
                applied, cs, img = s.snapshot_image()
                s.create_snapshot(applied, cs, img)
                s.compact(applied)
        assert s.used_fraction() < 0.9
        assert s.size_bytes() <= map_size
        assert s.get("k7") == value
    assert (path / "data.mdb").stat().st_size <= map_size


def test_a_full_map_refuses_the_write_and_keeps_serving_reads(path: Path) -> None:
    with LmdbStorage(path, 1, 1 << 20, fsync="never") as s:
        big = b"x" * 50_000
        index = 0
        with pytest.raises(StorageFullError, match="map is full"):
            while True:
                s.persist(HardState(1, 1, index), [Entry(1, index + 1, data=big)])
                index += 1
        assert index > 5
        assert s.last_index() == index  # the failed write was rolled back
        assert s.initial_state()[0] == HardState(1, 1, index - 1)
        assert s.entries(index, index + 1)[0].data == big
        assert s.term(index) == 1 and s.get("a") is None and s.scan("", 5) == ([], False)
        assert s.used_fraction() > 0.8
        s.persist(HardState(1, 1, index), [])  # a small write may still fit
        assert s.initial_state()[0] == HardState(1, 1, index)
        s.create_snapshot(index, ConfState(), b"image")
        s.compact(index)  # frees the log's pages, usable by the very next write
        assert s.used_fraction() < 0.5
        s.persist(HardState(1, 1, index), [Entry(1, index + 1, data=big)])
        assert s.last_index() == index + 1


def test_a_map_too_full_to_apply_what_it_holds_still_installs_the_leaders_snapshot(
    path: Path,
) -> None:
    """A follower with a smaller map than the leader's takes big entries into its log until it
    cannot apply the last (nor write a snapshot image of its state): the leader's snapshot,
    small once keys were deleted, is its way out, so installing it must find room, and drop
    the log, the old image and the state that filled the map."""
    with LmdbStorage(path, 1, 6 << 20, fsync="never") as s:
        sizes = [985_440, 240_891, 990_298, 349_523, 347_524, 900_000, 600_000, 800_000]
        index = 0
        for i, size in enumerate(sizes):
            e = cmd_entries([Put(f"f{i}", "z" * size)], start=index + 1)
            try:
                s.write_ready(HardState(1, 1, index), e, None, [], None)  # held...
            except StorageFullError:
                break
            try:
                s.write_ready(HardState(1, 1, index + 1), [], None, e, None)  # ...and applied
            except StorageFullError:
                break
            index += 1
            if index == 1:
                applied, cs, img = s.snapshot_image()
                s.create_snapshot(applied, cs, img)
                s.compact(applied)
        else:
            pytest.fail("the map never filled")
        assert index >= 2 and s.used_fraction() > 0.8
        with pytest.raises(StorageFullError):
            applied, cs, img = s.snapshot_image()
            s.create_snapshot(applied, cs, img)
        leaders = Snapshot(SnapshotMeta(40, 2, CS), image(40, {"after": "small"}))
        s.write_ready(HardState(2, 1, 40), [], leaders, [], None)
        assert s.applied_index() == 40 and s.first_index() == 41 == s.last_index() + 1
        assert s.get("after") == "small" and s.get("f0") is None
        assert s.used_fraction() < 0.05
        e = cmd_entries([Put("big", "y" * 1_000_000)], start=41, term=2)
        s.write_ready(HardState(2, 1, 41), e, None, e, None)
        assert s.applied_index() == 41


def test_full_disk_errors_become_storage_full() -> None:
    err = lmdb.DiskError("mdb_txn_commit", 28)
    from aspen.storage.errors import translate

    assert isinstance(translate(err, "persist"), StorageFullError)
    assert isinstance(translate(lmdb.MapFullError("x", 0), "persist"), StorageFullError)
    quota = lmdb.Error(f"mdb_txn_commit: {os.strerror(errno.EDQUOT)}")
    assert isinstance(translate(quota, "persist"), StorageFullError)
    assert not isinstance(translate(lmdb.BadTxnError("x", 0), "persist"), StorageFullError)


# --- refusing to start -----------------------------------------------------------------------


def one_line(e: pytest.ExceptionInfo[Exception]) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_garbage_data_file_is_corrupt(path: Path) -> None:
    path.mkdir()
    (path / "data.mdb").write_bytes(os.urandom(1 << 14))
    with pytest.raises(StorageCorruptError) as e:
        LmdbStorage(path, 1, MAP)
    assert str(path) in one_line(e)


def test_a_directory_of_other_files_is_foreign(path: Path) -> None:
    path.mkdir()
    (path / "notes.txt").write_text("hello")
    with pytest.raises(ForeignDataDirError) as e:
        LmdbStorage(path, 1, MAP)
    assert "notes.txt" in one_line(e)


def test_a_file_is_not_a_data_dir(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ForeignDataDirError):
        LmdbStorage(f, 1, MAP)


def test_another_programs_lmdb_is_foreign(path: Path) -> None:
    env = lmdb.open(str(path))
    with env.begin(write=True) as txn:
        txn.put(b"hello", b"world")
    env.close()
    with pytest.raises(ForeignDataDirError) as e:
        LmdbStorage(path, 1, MAP)
    assert "not Aspen's" in one_line(e)


def test_another_nodes_or_clusters_data_is_foreign(path: Path) -> None:
    LmdbStorage(path, 1, MAP, cluster_id="c1").close()
    with pytest.raises(ForeignDataDirError) as e:
        LmdbStorage(path, 2, MAP, cluster_id="c1")
    assert "node 1" in one_line(e)
    with pytest.raises(ForeignDataDirError) as e:
        LmdbStorage(path, 1, MAP, cluster_id="c2")
    assert "'c1'" in one_line(e)
    LmdbStorage(path, 1, MAP).close()  # no cluster id given: not checked


def test_the_cluster_id_is_recorded_when_first_known(path: Path) -> None:
    LmdbStorage(path, 1, MAP).close()
    with LmdbStorage(path, 1, MAP, cluster_id="c9") as s:
        assert s.cluster_id == "c9"
    with pytest.raises(ForeignDataDirError):
        LmdbStorage(path, 1, MAP, cluster_id="c8")


def test_an_unknown_format_version_is_refused(path: Path) -> None:
    with LmdbStorage(path, 1, MAP) as s, s._env.begin(write=True) as txn:
        txn.put(L.META_FORMAT, L.u32(99), db=s._meta)
    with pytest.raises(StorageCorruptError) as e:
        LmdbStorage(path, 1, MAP)
    assert "version 99" in one_line(e)


def test_one_opener_at_a_time(path: Path) -> None:
    with LmdbStorage(path, 1, MAP), pytest.raises(DataDirError, match="in use"):
        LmdbStorage(path, 1, MAP)
    LmdbStorage(path, 1, MAP).close()  # released on close
