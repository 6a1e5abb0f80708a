"""A real Aspen cluster of local processes for integration tests (no Toxiproxy in between)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aspen.client import AsyncClient, Outcome
from lab.context import NodeOptions, RunContext
from lab.db.aspen import AspenDB
from lab.recorder import Recorder
from lab.runtime.local import LocalRuntime
from tests.waiting import eventually


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path,
    nodes: int = 3,
    *,
    spare: Sequence[int] = (),
    options: NodeOptions | None = None,
) -> AsyncIterator[tuple[RunContext, AspenDB]]:
    """``nodes`` running and initialised; ``spare`` ids get ports but are not started."""
    ids = list(range(1, nodes + 1))
    runtime = LocalRuntime(tmp_path, [*ids, *spare], run_id=f"it-{uuid.uuid4().hex}")
    ctx = RunContext(
        run_dir=tmp_path,
        run_id=f"it-{uuid.uuid4().hex[:8]}",
        seed=1,
        nodes=ids,
        runtime=runtime,
        recorder=Recorder(tmp_path),
        node_options=options or NodeOptions(),
    )
    db = AspenDB()
    ctx.db = db
    try:
        await db.setup(ctx)
        yield ctx, db
    finally:
        runtime.close()
        ctx.recorder.close()


def client_for(ctx: RunContext, db: AspenDB, nodes: Sequence[int] | None = None) -> AsyncClient:
    ids = ctx.nodes if nodes is None else nodes
    return AsyncClient([f"http://{db.http(ctx, n)}" for n in ids], timeout=3.0)


async def leader_of(ctx: RunContext, db: AspenDB) -> int:
    found: list[int] = []

    async def known() -> bool:
        leader = await db.leader(ctx)
        if leader is not None:
            found.append(leader)
        return leader is not None

    await eventually(known, what="a leader")
    return found[-1]


async def stale_get(ctx: RunContext, db: AspenDB, node: int, key: str) -> str | None:
    url = f"http://{db.http(ctx, node)}"
    async with AsyncClient([url], timeout=2.0, max_attempts=1) as c:
        r = await c.get(key, consistency="stale", endpoint=url)
    return r.value if r.outcome is Outcome.OK else "<unavailable>"
