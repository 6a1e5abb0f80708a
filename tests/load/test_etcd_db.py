"""EtcdDB without etcd: its command line, and the helpers of its JSON gateway client."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from lab.context import NodeOptions, RunContext
from lab.db.base import DB
from lab.db.etcd import EtcdDB, prefix_end, revision
from lab.recorder import Recorder
from lab.runtime.local import LocalRuntime


def ctx_for(tmp_path: Path, fsync: str = "always") -> RunContext:
    ids = [1, 2, 3]
    return RunContext(
        run_dir=tmp_path,
        run_id=f"t-{uuid.uuid4().hex[:8]}",
        seed=1,
        nodes=ids,
        runtime=LocalRuntime(tmp_path, ids, run_id="t"),
        recorder=Recorder(tmp_path),
        node_options=NodeOptions(fsync=fsync),
    )


def test_command_names_the_node_its_urls_and_the_whole_cluster(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path)
    db = EtcdDB(binary="/usr/bin/etcd")
    argv = list(db.command(ctx, 2).argv)
    opts = dict(zip(argv[1::2], argv[2::2], strict=False))
    peer = ctx.runtime.endpoint(2, "raft").address
    client = ctx.runtime.endpoint(2, "http").address
    assert argv[0] == "/usr/bin/etcd" and opts["--name"] == "n2"
    assert opts["--listen-peer-urls"] == f"http://{peer}"
    assert opts["--listen-client-urls"] == opts["--advertise-client-urls"] == f"http://{client}"
    assert opts["--data-dir"] == ctx.runtime.data_dir(2)
    assert opts["--initial-cluster-state"] == "new"
    members = dict(m.split("=", 1) for m in opts["--initial-cluster"].split(","))
    assert members == {f"n{n}": db.peer_url(ctx, n) for n in (1, 2, 3)}
    ctx.recorder.close()


def test_fsync_never_is_refused(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path, fsync="never")
    with pytest.raises(ValueError, match="always fsyncs"):
        EtcdDB(binary="etcd").command(ctx, 1)
    ctx.recorder.close()


def test_prefix_end_is_the_next_key_after_every_key_with_the_prefix() -> None:
    assert base64.b64decode(prefix_end("set/")) == b"set0"
    assert base64.b64decode(prefix_end("a\xff")) == b"a\xc3\xc0"  # on the UTF-8 bytes


def test_etcd_db_is_a_lab_database() -> None:
    db: DB = EtcdDB()  # mypy checks the protocol; the runtime check is for the reader
    assert db.name == "etcd"
    for method in ("setup", "start_node", "status", "leader", "client", "teardown"):
        assert callable(getattr(db, method))
    for method in ("remove_member", "add_learner", "promote"):
        assert callable(getattr(db, method))


def test_revision_is_the_header_revision_the_gateway_writes_as_a_string() -> None:
    assert revision({"header": {"cluster_id": "1", "revision": "42"}, "kvs": []}) == 42
    assert revision({"header": {"revision": 7}}) == 7
    assert revision({"header": {}}) is None
    assert revision({}) is None
    assert revision({"header": {"revision": "x"}}) is None
