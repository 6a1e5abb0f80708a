"""The data tools: ``aspen snapshot save`` -> ``aspen-node snapshot restore`` -> ``aspen-node
verify``, and verify naming what is wrong with a damaged data directory."""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest

from aspen.cli import main as aspen
from aspen.kv.commands import Delete, Put, encode
from aspen.node.cli import main as aspen_node
from aspen.raft.messages import ConfState, Entry, HardState
from aspen.storage import layout as L
from aspen.storage.lmdb import LmdbStorage
from aspen.storage.snapfile import SnapshotFile, SnapshotFileError
from tests.http.fake_service import FakeService
from tests.http.support import LiveServers

MiB = 1 << 20


def _node_dir(path: Path) -> Path:
    """A data dir with a snapshot at 20, and entries 21..30 applied after it."""
    with LmdbStorage(path, 1, map_size=16 * MiB) as s:
        for i in range(1, 31):
            cmd = Delete("k3") if i == 25 else Put(f"k{i % 7}", f"v{i}\nline \u00e9")
            e = Entry(1, i, data=encode(cmd))
            s.write_ready(HardState(1, 1, i), [e], None, [e], None)
            if i == 20:
                index, _conf, image = s.snapshot_image()
                s.create_snapshot(index, ConfState(voters=frozenset({1})), image)
                s.compact(index)
    return path


def _verify(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = aspen_node(["verify", "--data-dir", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_healthy_data_dir_verifies_with_its_checksum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _verify(capsys, _node_dir(tmp_path / "n1"))
    assert (code, err) == (0, "")
    assert "log 21..30, snapshot 20, applied 30" in out and "sha256" in out


def test_save_restore_verify_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _node_dir(tmp_path / "n1")
    with LmdbStorage(source, 1, map_size=16 * MiB) as s:
        index, _, image = s.snapshot_image()
        expected, _ = s.scan("", 100)
    file = tmp_path / "snap.aspen"
    file.write_bytes(SnapshotFile(index, "c1", 1, image).encode())
    restored = tmp_path / "restored"
    code = aspen_node(["snapshot", "restore", str(file), "--data-dir", str(restored)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), out
    assert f"index {index}" in out
    code, out, err = _verify(capsys, restored)
    assert (code, err) == (0, "")
    with LmdbStorage(restored, 1, map_size=16 * MiB) as s:
        assert s.scan("", 100)[0] == expected
        assert s.applied_index() == index == 30
        assert s.conf_state().voters == {1}
    # restore never overwrites a data directory
    code = aspen_node(["snapshot", "restore", str(file), "--data-dir", str(restored)])
    assert code == 1 and "not empty" in capsys.readouterr().err


def test_aspen_snapshot_save_fetches_a_checked_file_that_restores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = FakeService(1)
    service.data.update({"a": "1", "b\nc": "2", "\u00e9": "3"})
    service.index = 7
    file = tmp_path / "saved.aspen"
    with LiveServers(service) as live:
        code = aspen(["--endpoints", live.url, "snapshot", "save", str(file)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), out
    assert "saved snapshot" in out
    restored = tmp_path / "restored"
    assert aspen_node(["snapshot", "restore", str(file), "--data-dir", str(restored)]) == 0
    assert _verify(capsys, restored)[0] == 0
    with LmdbStorage(restored, 1, map_size=16 * MiB) as s:
        assert dict(s.scan("", 10)[0]) == service.data


def test_a_damaged_snapshot_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = SnapshotFile(0, "c", 1, b"\x07\x00\x00").encode()
    with pytest.raises(SnapshotFileError, match="image unreadable"):
        SnapshotFile.decode(data)
    from aspen.kv.state_machine import encode_snapshot

    good = SnapshotFile(5, "c", 1, encode_snapshot(5, [("k", "v")])).encode()
    flipped = good[:-2] + bytes([good[-2] ^ 1]) + good[-1:]
    for bad, why in ((flipped, "SHA-256"), (good[:-3], "truncated"), (b"junk", "magic")):
        with pytest.raises(SnapshotFileError, match=why):
            SnapshotFile.decode(bad)
    path = tmp_path / "bad.aspen"
    path.write_bytes(flipped)
    assert aspen_node(["snapshot", "restore", str(path), "--data-dir", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SHA-256" in err


def _tamper(path: Path, db: bytes, key: bytes, value: bytes) -> None:
    env = lmdb.open(str(path), max_dbs=len(L.DATABASES), map_size=16 * MiB)
    try:
        with env.begin(write=True) as txn:
            txn.put(key, value, db=env.open_db(db, txn=txn, create=False))
    finally:
        env.close()


@pytest.mark.parametrize(
    ("db", "key", "value", "problem"),
    [
        (L.DB_KV, b"kk1", b"tampered", "state checksum mismatch"),
        (L.DB_KV, b"kextra", b"x", "state checksum mismatch"),
        (L.DB_APPLIED, L.APPLIED_INDEX, L.u64(29), "state checksum mismatch"),
        (L.DB_APPLIED, L.APPLIED_INDEX, L.u64(31), "past the commit index"),
        (L.DB_LOG, L.u64(32), L.entry_value(Entry(1, 32)), "gap"),
        (L.DB_LOG, L.u64(28), L.entry_value(Entry(1, 28, data=encode(Put("k0", "x")))), "checksum"),
        (L.DB_META, L.META_FORMAT, L.u32(9), "format"),
    ],
)
def test_verify_names_what_is_wrong_with_a_damaged_data_dir(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    db: bytes,
    key: bytes,
    value: bytes,
    problem: str,
) -> None:
    path = _node_dir(tmp_path / "n1")
    _tamper(path, db, key, value)
    code, out, err = _verify(capsys, path)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and problem in err, err


def test_verify_refuses_a_truncated_or_missing_data_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _node_dir(tmp_path / "n1")
    data = path / "data.mdb"
    data.write_bytes(data.read_bytes()[: 3 * 4096])
    code, _, err = _verify(capsys, path)
    assert code == 1 and err.count("\n") == 1
    code, _, err = _verify(capsys, tmp_path / "nothing")
    assert code == 1 and "no data.mdb" in err


def test_verify_refuses_a_directory_a_node_has_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _node_dir(tmp_path / "n1")
    with LmdbStorage(path, 1, map_size=16 * MiB):
        code, _, err = _verify(capsys, path)
    assert code == 1 and "already in use" in err and "stop the node first" in err
    assert _verify(capsys, path)[0] == 0
