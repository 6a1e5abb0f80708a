"""Drive a target with a plan: closed loop, open loop at a rate, or a ramp of open loops.

**Closed loop**: ``clients`` workers, each issuing its next operation as soon as the previous
one completes. Throughput is what the store gives; latency is measured from the send.

**Open loop**: operation ``i`` is *intended* to start at ``t0 + i / rate``, whatever happened to
the ones before. Workers (at most ``clients`` operations in flight) take the next operation,
wait for its intended time if it is still ahead, send it, and record its latency **from the
intended start**. When the store stalls, operations queue behind it and each one's latency
includes its time in the queue, so a stall shows up in every operation it delayed, not just the
one it hit (no *coordinated omission*). The time from send to completion is kept too
(``service``), and so is the *lag* (send minus intended start): when the lag is high the
generator, not the store, is behind (or the store stalled). Timer granularity (about a
millisecond) is part of the lag.

Every phase is bounded in operations and in time: after ``duration`` no operation is scheduled,
and after ``duration + drain`` none is sent; operations scheduled but never sent count as errors
(``not sent``) with their latency so far. ``stop`` (Ctrl-C) ends a phase early; what ran is
kept.

The hot loop only indexes pre-generated arrays and appends integers to ``array``s; histograms
(HdrHistogram, microseconds) are built once, when the phase ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from hdrh.histogram import HdrHistogram

from lab.load.targets import CONFLICT, Target
from lab.load.workloads import OP_NAMES, READ, RMW, Plan
from lab.stats import MAX_LATENCY_US, latency_summary

Mode = Literal["closed", "open"]
clock = time.perf_counter_ns


@dataclass(frozen=True, slots=True)
class Phase:
    """One measured run of a plan against a target."""

    name: str
    mode: Mode
    duration: float
    max_ops: int
    clients: int
    rate: float = 0.0
    drain: float = 5.0
    """Open loop: how long after ``duration`` scheduled operations may still be sent."""

    def __post_init__(self) -> None:
        if self.duration <= 0 or self.max_ops < 1 or self.clients < 1:
            raise ValueError("duration, max_ops and clients must be positive")
        if self.mode == "open" and self.rate <= 0:
            raise ValueError("an open-loop phase needs a rate > 0")


@dataclass(slots=True)
class Tally:
    """What one phase measured. Latencies in microseconds, one entry per operation."""

    phase: Phase
    latency_us: array[int] = field(default_factory=lambda: array("q"))
    service_us: array[int] = field(default_factory=lambda: array("q"))
    lag_us: array[int] = field(default_factory=lambda: array("q"))
    op: array[int] = field(default_factory=lambda: array("b"))
    end_ms: array[int] = field(default_factory=lambda: array("q"))
    ok: int = 0
    conflicts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    issued: int = 0
    elapsed: float = 0.0
    client_cpu: float = 0.0
    """CPU seconds the load generator's process used during the phase (all its threads)."""
    interrupted: bool = False

    @property
    def done(self) -> int:
        return len(self.latency_us)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def summary(self) -> dict[str, Any]:
        """The numbers results.json keeps for this phase."""
        p = self.phase
        elapsed = max(self.elapsed, 1e-9)
        total = self.ok + self.error_count
        ops = np.frombuffer(self.op, dtype=np.int8) if len(self.op) else np.zeros(0, np.int8)
        lat = _np(self.latency_us)
        out: dict[str, Any] = {
            "mode": p.mode,
            "clients": p.clients,
            "target_rate": p.rate if p.mode == "open" else None,
            "duration_s": round(self.elapsed, 3),
            "ops": total,
            "ok": self.ok,
            "conflicts": self.conflicts,
            "errors": dict(sorted(self.errors.items())),
            "error_count": self.error_count,
            "error_rate": round(self.error_count / total, 6) if total else 0.0,
            "throughput": round(self.ok / elapsed, 2),
            "latency_ms": latency_summary(histogram(lat)),
            "by_op": {
                OP_NAMES[code]: {
                    "ops": int(np.count_nonzero(ops == code)),
                    "latency_ms": latency_summary(histogram(lat[ops == code])),
                }
                for code in sorted(set(np.unique(ops).tolist()))
                if code >= 0
            },
            "timeline": timeline(_np(self.end_ms)),
            "client_cpu_s": round(self.client_cpu, 3),
            "client_cpu_us_per_op": round(1e6 * self.client_cpu / total, 1) if total else 0.0,
            "interrupted": self.interrupted,
        }
        if p.mode == "open":
            out["service_ms"] = latency_summary(histogram(_np(self.service_us)))
            out["lag_ms"] = latency_summary(histogram(_np(self.lag_us)))
        return out


def _np(a: array[int]) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.frombuffer(a, dtype=np.int64) if len(a) else np.zeros(0, np.int64)


def histogram(values_us: np.ndarray[Any, np.dtype[np.int64]]) -> HdrHistogram:
    """An HdrHistogram (1 us .. 1 h, 3 digits) of many values, built from their counts."""
    h = HdrHistogram(1, MAX_LATENCY_US, 3)
    if len(values_us):
        clipped = np.clip(values_us, 1, MAX_LATENCY_US)
        uniq, counts = np.unique(clipped, return_counts=True)
        for v, c in zip(uniq.tolist(), counts.tolist(), strict=True):
            h.record_value(v, c)
    return h


def timeline(end_ms: np.ndarray[Any, np.dtype[np.int64]]) -> list[int]:
    """Completions per whole second of the phase."""
    if not len(end_ms):
        return []
    return np.bincount(np.maximum(end_ms, 0) // 1000).tolist()  # type: ignore[no-any-return]


class _State:
    __slots__ = ("next", "sleeping")

    def __init__(self, start: int, workers: int) -> None:
        self.next = start
        self.sleeping = [False] * workers


async def _one(target: Target, op: int, key: int, value: int) -> str | None:
    if op == READ:
        return (await target.get(key))[0]
    if op == RMW:
        err, current = await target.get(key)
        if err is not None:
            return err
        return await target.cas(key, current, value)
    return await target.put(key, value)


def _count(t: Tally, err: str | None) -> None:
    if err is None:
        t.ok += 1
    elif err == CONFLICT:
        t.ok += 1
        t.conflicts += 1
    else:
        t.errors[err] = t.errors.get(err, 0) + 1


async def run_phase(
    target: Target,
    plan: Plan,
    phase: Phase,
    *,
    stop: asyncio.Event | None = None,
    offset: int = 0,
    tally: Tally | None = None,
) -> Tally:
    """Run ``phase`` (plan operations from ``offset`` on); returns what it measured.

    ``tally`` may be passed in to watch progress (``tally.done``) while the phase runs.
    """
    t = tally if tally is not None else Tally(phase)
    stop = stop or asyncio.Event()
    cpu = time.process_time()
    start = clock()
    if phase.mode == "closed":
        await _closed(target, plan, phase, t, stop, offset, start)
    else:
        await _open(target, plan, phase, t, stop, offset, start)
    t.elapsed = (clock() - start) / 1e9
    t.client_cpu = time.process_time() - cpu
    t.interrupted = stop.is_set()
    return t


async def _closed(
    target: Target, plan: Plan, phase: Phase, t: Tally, stop: asyncio.Event, offset: int, start: int
) -> None:
    ops, keys, values, n = plan.ops, plan.keys, plan.values, len(plan)
    deadline = start + int(phase.duration * 1e9)
    last = offset + phase.max_ops
    state = _State(offset, phase.clients)
    lat, kinds, ends = t.latency_us, t.op, t.end_ms

    async def worker() -> None:
        while not stop.is_set():
            i = state.next
            if i >= last:
                return
            t0 = clock()
            if t0 >= deadline:
                return
            state.next = i + 1
            j = i % n
            op = ops[j]
            t.issued += 1
            err = await _one(target, op, keys[j], values[j])
            t1 = clock()
            lat.append((t1 - t0) // 1000)
            kinds.append(op)
            ends.append((t1 - start) // 1_000_000)
            _count(t, err)

    await asyncio.gather(*(worker() for _ in range(phase.clients)))


async def _open(
    target: Target, plan: Plan, phase: Phase, t: Tally, stop: asyncio.Event, offset: int, start: int
) -> None:
    ops, keys, values, n = plan.ops, plan.keys, plan.values, len(plan)
    interval = 1e9 / phase.rate
    scheduled = min(phase.max_ops, int(phase.duration * phase.rate))
    hard_deadline = start + int((phase.duration + phase.drain) * 1e9)
    state = _State(0, phase.clients)
    lat, svc, lags, kinds, ends = t.latency_us, t.service_us, t.lag_us, t.op, t.end_ms

    async def worker(w: int) -> None:
        while not stop.is_set():
            i = state.next
            if i >= scheduled:
                return
            state.next = i + 1
            intended = start + int(i * interval)
            now = clock()
            if intended > now:
                state.sleeping[w] = True
                try:
                    await asyncio.sleep((intended - now) / 1e9)
                except asyncio.CancelledError:
                    return  # stopped (Ctrl-C) while waiting: never sent
                finally:
                    state.sleeping[w] = False
                now = clock()
            if now > hard_deadline:
                return
            j = (offset + i) % n
            op = ops[j]
            t.issued += 1
            err = await _one(target, op, keys[j], values[j])
            t1 = clock()
            lat.append((t1 - intended) // 1000)
            svc.append((t1 - now) // 1000)
            lags.append((now - intended) // 1000)
            kinds.append(op)
            ends.append((t1 - start) // 1_000_000)
            _count(t, err)

    tasks = [asyncio.ensure_future(worker(w)) for w in range(phase.clients)]
    all_done = asyncio.gather(*tasks)
    stopped = asyncio.ensure_future(stop.wait())
    waiters: set[asyncio.Future[Any]] = {all_done, stopped}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            for w, task in enumerate(tasks):
                if state.sleeping[w]:
                    task.cancel()
        await all_done
    finally:
        stopped.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopped
    # Scheduled before the end but never sent: the store (or the generator) fell too far
    # behind. They count as errors, with the latency they had accumulated when we gave up.
    if not stop.is_set() and t.issued < scheduled:
        now = clock()
        missing = np.arange(t.issued, scheduled, dtype=np.int64)
        intended = start + (missing * interval).astype(np.int64)
        waited = np.maximum((now - intended) // 1000, 1)
        t.latency_us.extend(waited.tolist())
        t.op.extend([-1] * len(missing))
        t.errors["not sent"] = t.errors.get("not sent", 0) + len(missing)


@dataclass(frozen=True, slots=True)
class Ramp:
    """Open-loop steps at ``start``, ``start + step``, ... up to ``stop`` ops/s, each for
    ``step_duration`` seconds; the knee is the highest rate whose p99 is at most ``p99_ms``."""

    start: float
    step: float
    stop: float
    step_duration: float
    p99_ms: float
    max_error_rate: float = 0.01

    def __post_init__(self) -> None:
        if self.start <= 0 or self.step <= 0 or self.stop < self.start:
            raise ValueError("a ramp needs 0 < start <= stop and step > 0")
        if self.step_duration <= 0 or self.p99_ms <= 0:
            raise ValueError("step duration and p99 bound must be positive")

    def rates(self) -> list[float]:
        out, r = [], self.start
        while r <= self.stop + 1e-9:
            out.append(r)
            r += self.step
        return out


def step_passes(summary: dict[str, Any], ramp: Ramp) -> bool:
    return bool(
        summary["latency_ms"]["p99"] <= ramp.p99_ms
        and summary["error_rate"] <= ramp.max_error_rate
        and summary["ops"] > 0
    )


async def run_ramp(
    target: Target,
    plan: Plan,
    ramp: Ramp,
    *,
    clients: int,
    max_ops: int,
    stop: asyncio.Event | None = None,
    on_step: Callable[[float, Tally], None] = lambda _r, _t: None,
    drain: float = 5.0,
) -> tuple[dict[str, Any], list[Tally]]:
    """Step the rate up until a step's p99 (or error rate) breaks the bound; returns the ramp
    summary (steps, knee) and every step's tally. ``on_step`` is called as each step starts."""
    stop = stop or asyncio.Event()
    steps: list[dict[str, Any]] = []
    tallies: list[Tally] = []
    knee: float | None = None
    offset = 0
    for rate in ramp.rates():
        if stop.is_set():
            break
        phase = Phase(
            f"{plan.mix.name}@{rate:g}",
            "open",
            duration=ramp.step_duration,
            max_ops=max_ops,
            clients=clients,
            rate=rate,
            drain=drain,
        )
        t = Tally(phase)
        on_step(rate, t)
        await run_phase(target, plan, phase, stop=stop, offset=offset, tally=t)
        offset += t.issued
        tallies.append(t)
        s = t.summary()
        passed = step_passes(s, ramp)
        steps.append(
            {
                "rate": rate,
                "throughput": s["throughput"],
                "latency_ms": s["latency_ms"],
                "error_rate": s["error_rate"],
                "passed": passed,
                "interrupted": s["interrupted"],
            }
        )
        if passed and not t.interrupted:
            knee = rate
        else:
            break
    summary = {
        "p99_bound_ms": ramp.p99_ms,
        "max_error_rate": ramp.max_error_rate,
        "step_duration_s": ramp.step_duration,
        "steps": steps,
        "knee_rate": knee,
        "knee_throughput": next((s["throughput"] for s in steps if s["rate"] == knee), None),
    }
    return summary, tallies
