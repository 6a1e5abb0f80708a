"""The data tools against real processes: ``aspen snapshot save`` from a live node, then
``aspen-node snapshot restore`` into a new data directory, ``aspen-node verify`` on it, and a
node started on it serving the data (reads and writes); verify also on the directory a live node
left behind after a clean stop."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.adversarial._single_node_util import live_node

pytestmark = pytest.mark.integration

DATA = {"plain": "1", "line\nbreak": "2", "ünï/cødé": "3", "big": "x" * 200_000}


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=120, check=False
    )


def test_save_restore_verify_and_serve(tmp_path: Path) -> None:
    file = tmp_path / "backup.aspen"
    with live_node(tmp_path / "src") as src:
        for key, value in DATA.items():
            path = "/kv/" + urllib.parse.quote(key, safe="")
            assert src.request("PUT", path, {"value": value})[0] == 200
        saved = _run("-m", "aspen.cli", "--endpoints", src.url, "snapshot", "save", str(file))
        assert saved.returncode == 0, saved.stderr
        assert "saved snapshot at index" in saved.stdout
    verified = _run("-m", "aspen.node", "verify", "--data-dir", str(tmp_path / "src"))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: node 1")

    restored = tmp_path / "restored"
    done = _run("-m", "aspen.node", "snapshot", "restore", str(file), "--data-dir", str(restored))
    assert done.returncode == 0, done.stderr
    verified = _run("-m", "aspen.node", "verify", "--data-dir", str(restored))
    assert verified.returncode == 0, verified.stderr

    with live_node(restored, init=False) as node:  # the only voter: it elects itself
        for key, value in DATA.items():
            status, body = node.request("GET", "/kv/" + urllib.parse.quote(key, safe=""))
            assert status == 200 and body["value"] == value, (key, body)  # type: ignore[index]
        node.assert_serving()
    verified = _run("-m", "aspen.node", "verify", "--data-dir", str(restored))
    assert verified.returncode == 0, verified.stderr


def test_verify_names_a_damaged_data_file_of_a_stopped_node(tmp_path: Path) -> None:
    with live_node(tmp_path / "n1") as node:
        assert node.request("PUT", "/kv/k", {"value": "precious"})[0] == 200
    # One bit of the value flipped in the state machine's pages only (an LMDB leaf holds the
    # stored key b"k" + b"k" right before the value; the log and the snapshot encode it apart).
    data = tmp_path / "n1" / "data.mdb"
    raw = data.read_bytes()
    assert b"kkprecious" in raw
    data.write_bytes(raw.replace(b"kkprecious", b"kkpreciouS"))
    verified = _run("-m", "aspen.node", "verify", "--data-dir", str(tmp_path / "n1"))
    assert verified.returncode == 1
    assert len(verified.stderr.strip().splitlines()) == 1, verified.stderr
    assert "state checksum mismatch" in verified.stderr and "'k'" in verified.stderr
