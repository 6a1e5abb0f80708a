"""A local cluster to load: Aspen or etcd, nodes as processes on 127.0.0.1, no proxies between.

``local_cluster`` starts the nodes, waits until a leader serves writes, yields the endpoints
clients should use, and stops every process it started when the block ends, however it ends
(Ctrl-C included).

Profiling the nodes: with ``profile_dir`` (or ``ASPEN_LOAD_PROFILE=<dir>`` in the environment)
each Aspen node runs under a profiler and writes its profile into ``<dir>`` when it stops:
``sample`` (the default, ``lab.load.sampler``: every thread, ``n<id>.txt`` and
``n<id>.collapsed``) or ``cprofile`` (``ASPEN_LOAD_PROFILER=cprofile``: the main thread only,
``n<id>.prof`` for ``python -m pstats``). Profiling slows the node: never gate on such a run.
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
PROFILER_ENV = "ASPEN_LOAD_PROFILER"
PROFILERS = ("sample", "cprofile")
DATABASES = ("aspen", "etcd")

log = logging.getLogger("lab.load")


class ProfiledAspenDB(AspenDB):
    """Aspen whose local nodes run under a profiler (``sample`` or ``cprofile``)."""

    def __init__(self, profile_dir: Path, profiler: str = "sample") -> None:
        super().__init__()
        if profiler not in PROFILERS:
            raise ValueError(f"unknown profiler {profiler!r}; known: {', '.join(PROFILERS)}")
        self.profile_dir = profile_dir.resolve()
        self.profiler = profiler
        profile_dir.mkdir(parents=True, exist_ok=True)

    def command(self, ctx: RunContext, node: int) -> NodeCommand:
        cmd = super().command(ctx, node)
        argv = list(cmd.argv)
        if argv[:3] != [sys.executable, "-m", "aspen.node"]:
            return cmd  # not a local process: nothing to wrap
        if self.profiler == "cprofile":
            wrap = ["-m", "cProfile", "-o", str(self.profile_dir / f"n{node}.prof")]
        else:
            wrap = ["-m", "lab.load.sampler", "-o", str(self.profile_dir / f"n{node}")]
        return NodeCommand([sys.executable, *wrap, *argv[1:]], cmd.env)


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
        if profile_dir is None:
            return AspenDB()
        return ProfiledAspenDB(profile_dir, os.environ.get(PROFILER_ENV, "sample"))
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
