"""`check`: split a history into partitions, search each, gather a `Result`.

Porcupine's ``CheckOperations``/``CheckEvents`` in one function. Partitions (keys) are
independent, so they can be checked in parallel worker processes. By default the check starts
in this process (start-up costs nothing, and most histories are done in well under a second)
and hands the partitions still unfinished after `HANDOFF_S` to one worker per CPU: spawning
workers costs about half a second, worth paying only for a check that is already long. With
``fail_fast`` the first invalid
partition stops the others (workers poll a shared event), and they are reported as unknown
"not checked" — the verdict is already invalid.

Any exception while checking a partition (a model that cannot read an operation, a bug) turns
that partition's verdict into unknown with the reason: never a silent pass.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Generator, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from lab.checker.explain import smallest_window
from lab.checker.model import Model
from lab.checker.result import Counterexample, PartitionResult, Result, Verdict, combine
from lab.checker.revisions import check_by_revisions, has_revisions
from lab.checker.search import SearchResult, abandon, search, search_steps
from lab.checker.timeline import SearchOp
from lab.history.history import History
from lab.history.op import Op, Operation
from lab.history.pairing import pair

AnyModel: TypeAlias = Model[Any]
HistoryLike: TypeAlias = History | Sequence[Op] | Sequence[Operation]

HANDOFF_S: Final = 1.0
"""With ``workers=None``: seconds of checking in this process before the unfinished partitions
move to worker processes (their searches restart there)."""

_NOT_CHECKED: Final = "not checked: another partition was already found invalid (fail_fast)"


def operations_of(history: HistoryLike) -> list[Operation]:
    """Paired operations from a `History`, raw events, or already-paired operations."""
    if isinstance(history, History):
        return history.operations()
    items = list(history)
    if items and isinstance(items[0], Op):
        return pair(items)  # type: ignore[arg-type]
    return items  # type: ignore[return-value]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while checking: a check allocates a compiled
    step and a place per operation and a cache entry per configuration, all alive until it
    ends and none in a cycle, and the collector would scan them again and again (a million
    revisioned operations: 3x slower; a searched history: 5-10%). Reference counting still
    frees everything; the collector resumes as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def check(
    model: AnyModel,
    history: HistoryLike,
    timeout: float | None = None,
    *,
    workers: int | None = None,
    fail_fast: bool = True,
    explain: bool = True,
) -> Result:
    """Is ``history`` linearizable with respect to ``model``?

    ``timeout`` (seconds, None = no limit) bounds the whole check, counterexample included;
    partitions still unchecked when it passes are unknown. ``workers``: 1 keeps everything in
    this process, N > 1 uses N worker processes from the start, None (default) starts here and
    hands what is unfinished after `HANDOFF_S` to one worker per CPU. ``explain``: shrink
    invalid partitions to their smallest failing window (costs a few extra searches).
    """
    with collector_paused():
        return _check(model, history, timeout, workers, fail_fast, explain)


def _check(
    model: AnyModel,
    history: HistoryLike,
    timeout: float | None,
    workers: int | None,
    fail_fast: bool,
    explain: bool,
) -> Result:
    started = time.perf_counter()
    deadline = None if timeout is None else time.monotonic() + timeout
    source = history.source if isinstance(history, History) else None
    ops = operations_of(history)
    try:
        parts = model.partition(ops)
    except Exception as exc:
        return Result(
            Verdict.UNKNOWN, model.name, (), time.perf_counter() - started, len(ops),
            reason=f"checker crashed while partitioning: {type(exc).__name__}: {exc}",
            source=source,
        )  # fmt: skip
    cpus = os.cpu_count() or 1
    if workers is not None and workers > 1 and len(parts) > 1:
        results = _check_parallel(model, parts, deadline, fail_fast, explain, workers)
    else:
        handoff = None
        if workers is None and cpus > 1 and len(parts) > 1:
            handoff = time.monotonic() + HANDOFF_S
        done, rest = _check_serial(model, parts, deadline, fail_fast, explain, handoff)
        if rest:
            n = min(cpus, len(rest))
            later = _check_parallel(
                model, {k: parts[k] for k in rest}, deadline, fail_fast, explain, n
            )
            done.update((r.key, r) for r in later)
        results = [
            done.get(k) or PartitionResult(k, Verdict.UNKNOWN, len(parts[k]), 0.0, _NOT_CHECKED)
            for k in parts
        ]
    verdict = combine([r.verdict for r in results])
    return Result(
        verdict, model.name, tuple(results), time.perf_counter() - started, len(ops), source=source
    )


def _check_serial(
    model: AnyModel,
    parts: dict[Hashable, list[Operation]],
    deadline: float | None,
    fail_fast: bool,
    explain: bool,
    handoff: float | None = None,
) -> tuple[dict[Hashable, PartitionResult], list[Hashable]]:
    """All partitions in this process, their searches interleaved slice by slice: (results,
    keys handed off). Partitions left out by ``fail_fast`` have no result.

    Round-robin means an easy invalid key ends the check (with ``fail_fast``) before a hard
    valid one is finished, which is what Porcupine gets from one goroutine per key. After
    the ``handoff`` instant (`time.monotonic`), if two or more searches are still running,
    they are dropped and their keys returned, for `_check_parallel` to start over.
    """
    results: dict[Hashable, PartitionResult] = {}
    jobs: deque[_Job] = deque()
    failed = False
    for key, ops in parts.items():
        if failed and fail_fast:
            break
        prepared = _prepare(model, key, ops, deadline)
        if isinstance(prepared, _Job):
            jobs.append(prepared)
        else:
            results[key] = prepared
            failed = prepared.verdict is Verdict.INVALID
    while jobs and not (failed and fail_fast):
        job = jobs.popleft()
        t0 = time.perf_counter()
        try:
            next(job.gen)
        except StopIteration as done:
            job.elapsed += time.perf_counter() - t0
            r = _finish(model, job, done.value, deadline, explain)
            results[job.key] = r
            failed = failed or r.verdict is Verdict.INVALID
            continue
        except Exception as exc:
            results[job.key] = _crashed(job.key, job.ops, job.elapsed, exc)
            continue
        job.elapsed += time.perf_counter() - t0
        now = time.monotonic()
        if deadline is not None and now > deadline:
            for j in (job, *jobs):
                results[j.key] = _finish(model, j, abandon(j.gen), deadline, explain)
            jobs.clear()
            break
        jobs.append(job)
        if handoff is not None and now > handoff and len(jobs) > 1:
            for j in jobs:
                j.gen.close()
            return results, [j.key for j in jobs]
    for job in jobs:
        job.gen.close()  # left unchecked by fail_fast
    return results, []


# --- parallel ----------------------------------------------------------------------------------

_STOP: Any = None  # the pool's shared Event, installed in each worker by _init_worker


def _init_worker(stop: Any) -> None:
    global _STOP
    _STOP = stop


def _worker(
    model: AnyModel, key: Any, ops: list[Operation], deadline: float | None, explain: bool
) -> PartitionResult:
    stop = _STOP
    with collector_paused():
        return check_partition(
            model, key, ops, deadline=deadline, explain=explain,
            should_stop=(stop.is_set if stop is not None else None),
        )  # fmt: skip


def _check_parallel(
    model: AnyModel,
    parts: dict[Hashable, list[Operation]],
    deadline: float | None,
    fail_fast: bool,
    explain: bool,
    n_workers: int,
) -> list[PartitionResult]:
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    done: dict[Hashable, PartitionResult] = {}
    with cf.ProcessPoolExecutor(
        n_workers, mp_context=ctx, initializer=_init_worker, initargs=(stop,)
    ) as pool:
        order = sorted(parts, key=lambda k: -len(parts[k]))  # biggest first: better packing
        futures = {pool.submit(_worker, model, k, parts[k], deadline, explain): k for k in order}
        for fut in cf.as_completed(futures):
            key = futures[fut]
            try:
                r = fut.result()
            except cf.CancelledError:
                continue
            except Exception as exc:
                r = PartitionResult(
                    key, Verdict.UNKNOWN, len(parts[key]), 0.0,
                    f"checker crashed in a worker: {type(exc).__name__}: {exc}",
                )  # fmt: skip
            done[key] = r
            if r.verdict is Verdict.INVALID and fail_fast:
                stop.set()
                for other in futures:
                    other.cancel()
    return [
        done.get(k) or PartitionResult(k, Verdict.UNKNOWN, len(parts[k]), 0.0, _NOT_CHECKED)
        for k in parts
    ]


# --- one partition -----------------------------------------------------------------------------


def check_partition(
    model: AnyModel,
    key: Any,
    ops: Sequence[Operation],
    *,
    deadline: float | None = None,
    explain: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> PartitionResult:
    """Check one partition; never raises (a crash becomes an unknown verdict)."""
    prepared = _prepare(model, key, ops, deadline)
    if not isinstance(prepared, _Job):
        return prepared
    t0 = time.perf_counter()
    try:
        res = search(prepared.sops, prepared.init, deadline=deadline, should_stop=should_stop)
    except Exception as exc:
        return _crashed(key, ops, time.perf_counter() - t0, exc)
    prepared.elapsed = time.perf_counter() - t0
    return _finish(model, prepared, res, deadline, explain)


@dataclass
class _Job:
    """A partition whose search is under way (see `_check_serial`)."""

    key: Any
    ops: Sequence[Operation]
    kept: list[Operation]
    sops: list[SearchOp]
    init: Any
    gen: Generator[None, bool | None, SearchResult]
    elapsed: float = 0.0


def _crashed(key: Any, ops: Sequence[Operation], elapsed: float, exc: Exception) -> PartitionResult:
    return PartitionResult(
        key, Verdict.UNKNOWN, len(ops), elapsed, f"checker crashed: {type(exc).__name__}: {exc}"
    )


def _prepare(
    model: AnyModel, key: Any, ops: Sequence[Operation], deadline: float | None
) -> _Job | PartitionResult:
    """Compile a partition's operations into a search job, unless the model decides it by a
    rule of its own (`Model.decide`) or its operations carry revisions
    (`lab.checker.revisions`)."""
    started = time.perf_counter()
    try:
        decided = model.decide(key, ops)
        if decided is None and has_revisions(ops):
            decided = check_by_revisions(model, key, ops, deadline=deadline)
        if decided is not None:
            return decided
        kept: list[Operation] = []
        sops: list[SearchOp] = []
        lower = model.lower
        for op in ops:
            sop = lower(op)
            if sop is not None:
                kept.append(op)
                sops.append(sop)
        init = model.init()
    except Exception as exc:
        return _crashed(key, ops, time.perf_counter() - started, exc)
    gen = search_steps(sops, init)
    return _Job(key, ops, kept, sops, init, gen, time.perf_counter() - started)


def _finish(
    model: Model[Any],
    job: _Job,
    res: SearchResult,
    deadline: float | None,
    explain: bool,
) -> PartitionResult:
    """Turn a search result into a `PartitionResult`, explaining an invalid one."""
    key, ops, kept, sops = job.key, job.ops, job.kept, job.sops
    elapsed = job.elapsed
    if res.outcome == "valid":
        return PartitionResult(key, Verdict.VALID, len(ops), elapsed, steps=res.steps)
    if res.outcome == "stopped":
        return PartitionResult(key, Verdict.UNKNOWN, len(ops), elapsed, _NOT_CHECKED)
    if res.outcome == "timeout":
        return PartitionResult(
            key, Verdict.UNKNOWN, len(ops), elapsed,
            f"time budget exhausted ({elapsed:.2f}s of search, {res.steps} steps, "
            f"{res.cache_size} configurations cached)",
            steps=res.steps,
        )  # fmt: skip
    t0 = time.perf_counter()
    prefix = tuple(kept[i].id for i in res.prefix)
    culprit = kept[res.culprit].id if res.culprit is not None else None
    state = job.init
    for i in res.prefix:
        state = sops[i].step(state)
    window: tuple[int, ...] = ()
    minimal = False
    if explain:
        try:
            ids, minimal = smallest_window(model, kept, deadline=deadline, progress=res.progress)
            window = tuple(ids)
        except Exception:  # the verdict stands; only the explanation is missing
            window, minimal = (), False
    descriptions = {op.id: model.describe(op) for op in ops}
    by_id = {op.id: op for op in ops}
    message = _message(model, key, prefix, model.describe_state(state), culprit, by_id)
    cx = Counterexample(
        culprit=culprit,
        prefix=prefix,
        state_after_prefix=model.describe_state(state),
        window=window,
        window_minimal=minimal,
        message=message,
    )
    return PartitionResult(
        key, Verdict.INVALID, len(ops), elapsed + time.perf_counter() - t0,
        counterexample=cx, operations=tuple(ops), descriptions=descriptions, steps=res.steps,
    )  # fmt: skip


def _message(
    model: Model[Any],
    key: Any,
    prefix: tuple[int, ...],
    state: str,
    culprit: int | None,
    by_id: dict[int, Operation],
) -> str:
    if culprit is None:
        return "no linearization exists"
    op = by_id[culprit]
    where = f"[{op.call} .. {'unknown' if op.ret is None else op.ret}]"
    return (
        f"The longest linearizable prefix found has {len(prefix)} operation(s) and leaves "
        f"the {'key' if key is not None else 'register'} at {state}; no order of the "
        f"remaining operations can place op #{op.id} (process {op.process}: "
        f"{model.describe(op)} {where}) before it returns."
    )
