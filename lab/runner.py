"""Runs one lab test from start to verdict.

Phases, in order: set up the cluster; run the workload (``concurrency`` worker slots) while
the nemesis follows its fault schedule; heal every fault; wait for the cluster to recover (every
node converges and serves); final reads; tear down; check the history. Teardown happens in a
``finally``: every process, proxy and container the run created is gone when this returns,
also after Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lab.chaos.nemesis import Nemesis
from lab.chaos.schedule import FaultWindow
from lab.context import RunContext
from lab.db.base import Client, NodeStatus
from lab.interrupt import StopRequest
from lab.workloads.base import Completion, Invocation, Workload
from lab.workloads.checkers import FINAL_PROCESS_BASE

"""Final reads are recorded with process ids from here on, so checkers can tell them apart."""


@dataclass(frozen=True, slots=True)
class Phases:
    duration: float = 30.0
    """Seconds the workload runs (faults happen inside this)."""
    op_timeout: float = 2.0
    """A client call with no answer after this long is recorded as ``info``."""
    recovery_timeout: float = 30.0
    """Bound on how long the healed cluster may take to converge."""
    rate: float = 0.0
    """Total ops/s across all slots (0 = closed loop, as fast as answers come)."""
    concurrency: int = 6


Phase = Literal["setup", "workload", "recovery", "checking", "reporting"]


@dataclass(frozen=True, slots=True)
class RunStatus:
    """What a run is doing now, for a live display (the fields of the soak's status line).

    ``phase``: ``setup`` (nodes starting), ``workload``, ``recovery`` (faults healed, waiting
    for the cluster and reading the final state), ``checking``, ``reporting`` (the command
    writing the report); the counts are the workload's so far."""

    phase: Phase
    elapsed: float = 0.0
    """Seconds of workload run."""
    ok: int = 0
    """Operations completed ok so far."""
    fault: str = ""
    """The fault whose window is open now ("" when none)."""


Progress = Callable[[RunStatus], None]


def fault_at(windows: Sequence[FaultWindow], t: float) -> str:
    """The fault whose window holds ``t`` seconds into the workload, "" when none."""
    return next((w.fault for w in windows if w.start <= t < w.end), "")


@dataclass(slots=True)
class RunOutcome:
    recovered: bool
    recovery_seconds: float | None
    final_statuses: list[dict[str, Any]] = field(default_factory=list)
    windows: list[FaultWindow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def _worker(
    ctx: RunContext,
    workload: Workload,
    slot: int,
    phases: Phases,
    clients: dict[int, Client],
    stop_at: float,
    stop: StopRequest,
) -> None:
    """Run ``slot``'s operations one after another until ``stop_at`` or a stop request (the
    run cancels its workers then too; looking here as well means a worker never starts an
    operation after the stop, whatever happens to the cancellation)."""
    rec = ctx.recorder
    nodes = ctx.nodes
    node = nodes[slot % len(nodes)]
    process = slot
    stream = workload.stream(slot)
    interval = phases.concurrency / phases.rate if phases.rate > 0 else 0.0
    next_at = time.monotonic()
    while time.monotonic() < stop_at and not stop.requested:
        inv = stream.next()
        rec.invoke(process, inv, node)
        comp = await _invoke(clients[node], inv, phases.op_timeout)
        rec.complete(process, inv, comp, node)
        if comp.type == "info":
            # The old process may still have its operation in flight forever: continue as a
            # new process, as Jepsen does, so the checker never sees two ops overlap in one.
            process += phases.concurrency
        if interval:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def _invoke(client: Client, inv: Invocation, timeout: float) -> Completion:
    """``inv`` on ``client``; its outcome is unknown (``info``) after ``timeout`` seconds.

    `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 ``wait_for`` returns the
    operation's result when the worker is cancelled just as the operation completes, so the
    cancellation is lost, and a stopped run's worker went on to the end of its duration (a
    double Ctrl-C'd 120 s Docker run ran all 120 s)."""
    try:
        async with asyncio.timeout(timeout):
            return await client.invoke(inv)
    except TimeoutError:
        return Completion("info", error="timeout")


async def _run_nemesis(
    ctx: RunContext, nemeses: dict[str, Nemesis], windows: Sequence[FaultWindow], t0: float
) -> None:
    for w in windows:
        await asyncio.sleep(max(0.0, t0 + w.start - time.monotonic()))
        nem = nemeses[w.fault]
        value = await nem.start(ctx, w.seed)
        ctx.recorder.nemesis(w.fault, value, phase="start")
        ctx.log.info("fault %s started: %s", w.fault, value)
        await asyncio.sleep(max(0.0, t0 + w.end - time.monotonic()))
        value = await nem.stop(ctx)
        ctx.recorder.nemesis(w.fault, value, phase="stop")
        ctx.log.info("fault %s stopped", w.fault)


async def sample_resources(ctx: RunContext, interval: float = 1.0) -> None:
    """Append one line per node per ``interval`` to ``resources.jsonl`` until cancelled."""
    path = ctx.run_dir / "resources.jsonl"
    with open(path, "a", encoding="utf-8") as out:
        while True:
            t = ctx.recorder.now()
            for node in ctx.nodes:
                s = await asyncio.to_thread(ctx.runtime.sample, node)
                row: dict[str, Any] = {"time": t, "node": f"n{node}", "up": s is not None}
                if s is not None:
                    row.update(
                        cpu_percent=s.cpu_percent,
                        rss_bytes=s.rss_bytes,
                        open_fds=s.open_fds,
                        threads=s.threads,
                        data_bytes=s.data_bytes,
                    )
                out.write(json.dumps(row) + "\n")
            out.flush()
            await asyncio.sleep(interval)


async def wait_recovered(
    ctx: RunContext, timeout: float, poll: float = 0.2
) -> tuple[bool, float | None, list[NodeStatus | None]]:
    """Wait until a leader is known to all nodes and every node applied the same index."""
    db = ctx.the_db
    start = time.monotonic()
    statuses: list[NodeStatus | None] = []
    while time.monotonic() - start < timeout:
        statuses = list(await asyncio.gather(*(db.status(ctx, n) for n in ctx.nodes)))
        live = [s for s in statuses if s is not None]
        if len(live) == len(ctx.nodes):
            leaders = {s.leader for s in live}
            applied = {s.applied for s in live}
            if len(leaders) == 1 and 0 not in leaders and len(applied) == 1:
                return True, time.monotonic() - start, statuses
        await asyncio.sleep(poll)
    return False, None, statuses


async def run_workload(
    ctx: RunContext,
    workload: Workload,
    nemeses: dict[str, Nemesis],
    windows: Sequence[FaultWindow],
    phases: Phases,
    progress: Progress = lambda _s: None,
    *,
    sample: bool = True,
    stop: StopRequest | None = None,
) -> RunOutcome:
    """Everything between a formed cluster and its teardown.

    ``sample=False`` leaves resource sampling to the caller (a soak samples across windows).
    A ``stop`` request ends the workload early; faults are healed all the same, and the
    recovery wait and final reads run unless the stop was hurried (a second signal).
    """
    stop = stop or StopRequest()
    db = ctx.the_db
    outcome = RunOutcome(recovered=False, recovery_seconds=None, windows=list(windows))
    clients = {n: db.client(ctx, n, stale_reads=ctx.node_options.stale_reads) for n in ctx.nodes}
    t0 = time.monotonic()
    stop_at = t0 + phases.duration
    background = [asyncio.create_task(_run_nemesis(ctx, nemeses, windows, t0))]
    if sample:
        background.append(asyncio.create_task(sample_resources(ctx)))
    workers = [
        asyncio.create_task(_worker(ctx, workload, slot, phases, clients, stop_at, stop))
        for slot in range(phases.concurrency)
    ]
    try:
        try:
            while not all(w.done() for w in workers) and not stop.requested:
                elapsed = time.monotonic() - t0
                ok = ctx.recorder.counts["ok"]
                progress(RunStatus("workload", elapsed, ok, fault_at(windows, elapsed)))
                await asyncio.wait(workers, timeout=0.5)
            for w in workers:
                if w.done() and not w.cancelled() and w.exception() is not None:
                    outcome.errors.append(f"worker failed: {w.exception()!r}")
        finally:
            for w in workers:
                w.cancel()
            nem_task = background[0]
            nem_task.cancel()
            try:
                await nem_task
            except asyncio.CancelledError:
                pass
            except Exception as e:  # a fault that failed to start or stop is reported
                outcome.errors.append(f"nemesis failed: {e!r}")
            await _heal_all(ctx, nemeses, outcome)
        if stop.hurried:
            return outcome
        progress(RunStatus("recovery", time.monotonic() - t0, ctx.recorder.counts["ok"]))
        ok, seconds, statuses = await wait_recovered(ctx, phases.recovery_timeout)
        outcome.recovered, outcome.recovery_seconds = ok, seconds
        outcome.final_statuses = [
            {"node": n, "status": None if s is None else _status_dict(s)}
            for n, s in zip(ctx.nodes, statuses, strict=False)
        ]
        await _final_reads(ctx, workload, phases)
    finally:
        for task in background[1:]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for c in clients.values():
            await c.close()
    return outcome


async def _heal_all(ctx: RunContext, nemeses: dict[str, Nemesis], outcome: RunOutcome) -> None:
    """Heal everything, whatever state the schedule was cut off in."""
    for name, nem in nemeses.items():
        try:
            value = await nem.heal(ctx)
        except Exception as e:  # a failed heal is reported, and must not hide the run
            outcome.errors.append(f"heal of {name} failed: {e!r}")
        else:
            if value is not None:
                ctx.recorder.nemesis(name, value, phase="stop")


async def _final_reads(ctx: RunContext, workload: Workload, phases: Phases) -> None:
    db = ctx.the_db
    process = FINAL_PROCESS_BASE
    for node, inv in workload.final_reads(ctx.nodes):
        client = db.client(ctx, node, stale_reads=workload.final_reads_local)
        try:
            for _attempt in range(3):
                ctx.recorder.invoke(process, inv, node)
                comp = await _invoke(client, inv, phases.op_timeout * 2)
                ctx.recorder.complete(process, inv, comp, node)
                process += 1
                if comp.type == "ok":
                    break
        finally:
            await client.close()


def _status_dict(s: NodeStatus) -> dict[str, Any]:
    return {
        "role": s.role,
        "term": s.term,
        "leader": s.leader,
        "commit": s.commit,
        "applied": s.applied,
        "voters": sorted(s.voters),
        "learners": sorted(s.learners),
    }
