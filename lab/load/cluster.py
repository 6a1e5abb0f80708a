"""A local cluster to load: Aspen or etcd, nodes as processes on 127.0.0.1, no proxies between.

``local_cluster`` starts the nodes, waits until a leader serves writes, yields the endpoints
clients should use, and stops every process it started when the block ends, however it ends
(Ctrl-C included).

Profiling the nodes: with ``profile_dir`` (or ``ASPEN_LOAD_PROFILE=<dir>`` in the environment)
each Aspen node runs under ``python -m cProfile`` and writes ``<dir>/n<id>.prof`` when it stops
(``python -m pstats <file>`` reads it). Profiling slows the node down: never gate on such a run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from lab.context import NodeOptions, RunContext
from lab.db.aspen import AspenDB
from lab.db.base import DB
from lab.db.etcd import EtcdDB
from lab.recorder import Recorder
from lab.runtime.base import NodeCommand
from lab.runtime.local import LocalRuntime

PROFILE_ENV = "ASPEN_LOAD_PROFILE"
DATABASES = ("aspen", "etcd")

log = logging.getLogger("lab.load")


class ProfiledAspenDB(AspenDB):
    """Aspen whose nodes run under cProfile, each writing ``<profile_dir>/n<id>.prof``."""

    def __init__(self, profile_dir: Path, **kwargs: int | float) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.profile_dir = profile_dir
        profile_dir.mkdir(parents=True, exist_ok=True)

    def command(self, ctx: RunContext, node: int) -> NodeCommand:
        cmd = super().command(ctx, node)
        argv = list(cmd.argv)
        if argv[:3] != [sys.executable, "-m", "aspen.node"]:
            return cmd
        out = str(self.profile_dir.resolve() / f"n{node}.prof")
        return NodeCommand([sys.executable, "-m", "cProfile", "-o", out, *argv[1:]], cmd.env)


@dataclass(frozen=True, slots=True)
class Cluster:
    db_name: str
    ctx: RunContext
    endpoints: list[str]
    """Client URLs (``http://host:port``), one per node."""


def make_db(name: str, profile_dir: Path | None = None) -> DB:
    if name == "aspen":
        if profile_dir is None and os.environ.get(PROFILE_ENV):
            profile_dir = Path(os.environ[PROFILE_ENV])
        return ProfiledAspenDB(profile_dir) if profile_dir is not None else AspenDB()
    if name == "etcd":
        return EtcdDB()
    raise ValueError(f"unknown database {name!r}; known: {', '.join(DATABASES)}")


@contextlib.asynccontextmanager
async def local_cluster(
    db_name: str,
    run_dir: Path,
    *,
    nodes: int = 3,
    fsync: str = "always",
    profile_dir: Path | None = None,
) -> AsyncIterator[Cluster]:
    """``nodes`` local processes of ``db_name`` under ``run_dir/<db_name>/``, serving."""
    ids = list(range(1, nodes + 1))
    where = run_dir / db_name
    where.mkdir(parents=True, exist_ok=True)
    run_id = f"load-{db_name}-{uuid.uuid4().hex[:8]}"
    runtime = LocalRuntime(where, ids, run_id)
    db = make_db(db_name, profile_dir)
    ctx = RunContext(
        run_dir=where,
        run_id=run_id,
        seed=1,
        nodes=ids,
        runtime=runtime,
        recorder=Recorder(where),
        node_options=NodeOptions(fsync=fsync),
        db=db,
        log=log,
    )
    try:
        await db.setup(ctx)
        endpoints = [f"http://{runtime.endpoint(n, 'http').address}" for n in ids]
        yield Cluster(db_name, ctx, endpoints)
    finally:
        runtime.close()
        ctx.recorder.close()
