"""Runs a soak: one cluster for the whole soak, and a checked window after window on it.

Each window is a lab run of its own on the shared cluster (`lab.runner.run_workload`): a
register workload in the window's key namespace at a steady rate, one fault from the scenario,
heal, recovery check, final reads, all recorded in ``windows/NNNN/history.jsonl``. While the
next window runs, a worker process checks the finished one (`lab.soak.window.check_window`);
only its `WindowResult` comes back. One sampler watches the nodes across the whole soak
(``resources.jsonl``). After every checked window ``results.json`` is rewritten with the
verdicts and leak checks so far; at the end (also after a signal) come the final results and
``report.html``.

SIGINT (Ctrl-C) or SIGTERM once (`lab.interrupt`): the current window stops (its faults
healed), what ran is checked, results and report are written. Twice: the checks still running
are abandoned too; the cluster is stopped either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.chaos.nemesis import Nemesis
from lab.chaos.scenarios import SCENARIOS
from lab.context import RunContext
from lab.interrupt import StopRequest
from lab.net import attach_network
from lab.recorder import Recorder
from lab.runner import Phases, RunOutcome, run_workload
from lab.runtime.base import ResourceSample
from lab.soak.config import SoakConfig
from lab.soak.plan import (
    fault_order,
    plan_windows,
    window_prefix,
    window_schedule,
    window_seed,
)
from lab.soak.resources import ResourceSeries, SharedSamples, sample_soak
from lab.soak.results import assemble
from lab.soak.window import WindowJob, WindowResult, check_window, ignore_sigint
from lab.soak.workload import PrefixedWorkload
from lab.store import new_run_dir, write_json
from lab.test import make_db, make_runtime
from lab.workloads import RegisterWorkload

log = logging.getLogger("lab")


@dataclass
class SoakStatus:
    """What the soak is doing now, for a progress display (read, never written, by it)."""

    total_s: float
    planned: int
    started: float = field(default_factory=time.monotonic)
    window: int | None = None
    window_started: float | None = None
    window_length: float = 0.0
    done_s: float = 0.0
    """Workload seconds of the windows already finished."""
    fault: str | None = None
    recorder: Recorder | None = None
    windows: list[WindowResult] = field(default_factory=list)
    stopping: bool = False
    phase: str = "setting up"

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def progress_s(self) -> float:
        """Workload seconds so far (finished windows plus the current one)."""
        current = 0.0
        if self.window_started is not None:
            current = min(self.window_length, time.monotonic() - self.window_started)
        return min(self.total_s, self.done_s + current)

    @property
    def ops_per_s(self) -> float:
        if self.recorder is None or self.window_started is None:
            return 0.0
        return self.recorder.counts["ok"] / max(1e-3, time.monotonic() - self.window_started)

    @property
    def failed_windows(self) -> int:
        return sum(1 for w in self.windows if w.status != "valid" and not w.interrupted)


class _Tracked:
    """A nemesis that tells the status which fault is in effect."""

    def __init__(self, inner: Nemesis, status: SoakStatus) -> None:
        self.inner = inner
        self.name = inner.name
        self._status = status

    async def start(self, ctx: RunContext, seed: int) -> Any:
        self._status.fault = self.name
        return await self.inner.start(ctx, seed)

    async def stop(self, ctx: RunContext) -> Any:
        try:
            return await self.inner.stop(ctx)
        finally:
            self._status.fault = None

    async def heal(self, ctx: RunContext) -> Any:
        return await self.inner.heal(ctx)


@dataclass
class Hooks:
    """Callbacks for a front end: ``tick`` about twice a second, ``window`` once checked."""

    tick: Callable[[SoakStatus], None] = lambda _s: None
    window: Callable[[WindowResult], None] = lambda _w: None


STOP_NOTES = (
    "stopping: ending the current window, healing its fault, checking what ran ({signal} again"
    " to abandon the checks)",
    "abandoning the checks; still stopping the cluster",
)


class Soak:
    """One soak run. ``checker`` runs the window checks (default: one spawned process);
    ``request`` is where the command's signals arrive (see `lab.interrupt`)."""

    def __init__(
        self,
        cfg: SoakConfig,
        hooks: Hooks | None = None,
        *,
        checker: Executor | None = None,
        request: StopRequest | None = None,
    ) -> None:
        self.cfg = cfg
        self.hooks = hooks or Hooks()
        self._checker = checker
        self.request = request or StopRequest(STOP_NOTES)
        self._stop = asyncio.Event()
        self._current: list[asyncio.Task[RunOutcome]] = []
        self.lengths = plan_windows(cfg.duration, cfg.window)
        self.status = SoakStatus(total_s=cfg.duration, planned=len(self.lengths))
        self.series = ResourceSeries()
        self.errors: list[str] = []
        self.interrupted = False
        self.soak_dir = new_run_dir("soak", cfg.store)
        self.run_id = f"soak-{self.soak_dir.name}-{uuid.uuid4().hex[:6]}"
        self._t0_ns = time.monotonic_ns()
        self._last_report = 0.0

    # --- results --------------------------------------------------------------------------

    def results(self, *, final: bool) -> dict[str, Any]:
        return assemble(
            self.config_json(),
            self.status.windows,
            self.series,
            self.cfg.thresholds,
            warmup_s=self.cfg.warmup_s,
            restart_warmup_s=self.cfg.restart_warmup,
            planned=len(self.lengths),
            elapsed_s=self.status.elapsed,
            interrupted=self.interrupted,
            errors=self.errors,
            final=final,
        )

    def config_json(self) -> dict[str, Any]:
        return {
            **self.cfg.to_json(),
            "run_id": self.run_id,
            "windows": [round(x, 3) for x in self.lengths],
            "fault_order": fault_order(self.cfg.seed, self.cfg.fault_names),
            "argv": sys.argv,
            "python": sys.version.split()[0],
        }

    def write_results(self, *, final: bool) -> dict[str, Any]:
        res = self.results(final=final)
        write_json(self.soak_dir / "results.json", res)
        return res

    # --- the run --------------------------------------------------------------------------

    def run(self) -> tuple[Path, dict[str, Any]]:
        """Run the soak; returns its directory and final results (also in results.json)."""
        cfg = self.cfg
        write_json(self.soak_dir / "config.json", self.config_json())
        handler = logging.FileHandler(self.soak_dir / "lab.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        test = cfg.lab_test(cfg.seed, cfg.duration)
        runtime = make_runtime(test, self.soak_dir, self.run_id)
        setup = Recorder(self.soak_dir)  # receives nothing: the windows have their own
        ctx = RunContext(
            run_dir=self.soak_dir,
            run_id=self.run_id,
            seed=cfg.seed,
            nodes=list(range(1, cfg.nodes + 1)),
            runtime=runtime,
            recorder=setup,
            node_options=cfg.node_options,
            db=make_db(test),
            log=log,
        )
        try:
            with contextlib.ExitStack() as stack:
                if SCENARIOS[cfg.scenario].needs_network:
                    ctx.net = attach_network(stack, runtime, ctx.nodes)
                try:
                    asyncio.run(self._main(ctx))
                finally:
                    with contextlib.suppress(Exception):
                        asyncio.run(ctx.the_db.teardown(ctx))
                    runtime.close()
        except Exception as e:
            log.exception("soak failed")
            self.errors.append(f"soak failed: {e!r}")
        finally:
            setup.close()
            for name in ("history.jsonl", "nemesis.jsonl"):
                path = self.soak_dir / name
                if path.exists() and path.stat().st_size == 0:
                    path.unlink()
            log.removeHandler(handler)
            handler.close()
        res = self.write_results(final=True)
        try:
            from lab.soak.report import write_soak_report

            write_soak_report(self.soak_dir)
        except Exception as e:  # the verdict stands without its page
            log.exception("soak report failed")
            res["errors"].append(f"report failed: {e!r}")
            write_json(self.soak_dir / "results.json", res)
        return self.soak_dir, res

    async def _main(self, ctx: RunContext) -> None:
        stop = self._stop
        latest: dict[int, ResourceSample | None] = {}
        sampler = asyncio.create_task(
            sample_soak(
                ctx.runtime,
                ctx.nodes,
                self.soak_dir / "resources.jsonl",
                self.series,
                self._t0_ns,
                interval=self.cfg.sample_interval,
                window=lambda: self.status.window,
                latest=latest,
            )
        )
        ticker = asyncio.create_task(self._tick())
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)
        pool: Executor
        own: ProcessPoolExecutor | None = None
        if self._checker is not None:
            pool = self._checker
        else:
            pool = own = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=ignore_sigint
            )
        pending: set[asyncio.Future[WindowResult]] = set()
        request = self.request
        request.call_on(self.stop)
        try:
            # A second signal may cut the setup and the checks, never a window's heal.
            set_up, _ = await request.unless_hurried(ctx.the_db.setup(ctx))
            shared = SharedSamples(ctx.runtime, latest)
            for index, length in enumerate(self.lengths):
                if stop.is_set() or not set_up:
                    break
                job = await self._window(ctx, shared, index, length)
                fut = asyncio.get_running_loop().run_in_executor(pool, check_window, job)
                pending.add(fut)
                fut.add_done_callback(lambda f: self._checked(f, pending, pool))
            self.status.window = self.status.window_started = self.status.recorder = None
            self.status.phase = "checking the last windows"
            if pending:
                await request.unless_hurried(asyncio.wait(set(pending)))
            if request.hurried:
                self.errors.append(
                    f"checks abandoned ({request.signals[1]} after {request.first}): windows"
                    " still being checked are missing"
                )
        finally:
            if own is not None:
                _terminate(own)
            for task in (sampler, ticker):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _window(
        self,
        ctx: RunContext,
        shared: SharedSamples,
        index: int,
        length: float,
    ) -> WindowJob:
        cfg, st = self.cfg, self.status
        wdir = self.soak_dir / "windows" / f"{index:04d}"
        wdir.mkdir(parents=True)
        recorder = Recorder(wdir)
        seed = window_seed(cfg.seed, index)
        wctx = dataclasses.replace(ctx, run_dir=wdir, recorder=recorder, seed=seed, runtime=shared)
        prefix = window_prefix(index)
        workload = PrefixedWorkload(RegisterWorkload(seed=seed, keys=cfg.keys), prefix)
        nemeses: dict[str, Nemesis] = {
            name: _Tracked(nem, st)
            for name, nem in SCENARIOS[cfg.scenario].build().items()
            if not cfg.faults or name in cfg.faults
        }
        schedule = window_schedule(cfg.seed, index, length, cfg.fault_names)
        phases = Phases(
            duration=length,
            op_timeout=cfg.op_timeout,
            recovery_timeout=cfg.recovery_timeout,
            rate=cfg.rate,
            concurrency=cfg.concurrency,
        )
        started = time.monotonic()
        start_s = (time.monotonic_ns() - self._t0_ns) / 1e9
        st.window, st.window_started, st.window_length = index, started, length
        st.recorder, st.phase = recorder, "running"
        task = asyncio.create_task(run_workload(wctx, workload, nemeses, schedule, phases))
        self._current.append(task)
        outcome: RunOutcome | None = None
        error: str | None = None
        interrupted = False
        try:
            outcome = await task
        except asyncio.CancelledError:
            main = asyncio.current_task()
            if main is not None and main.cancelling():
                raise
            interrupted = True
            error = "interrupted (stopped early): results cover what ran"
        except Exception as e:
            log.exception("window %d failed", index)
            error = f"window failed: {e!r}"
        finally:
            self._current.remove(task)
            recorder.close()
            st.fault = None
        ran = min(length, time.monotonic() - started)
        st.done_s += ran
        st.window_started = None
        log.info("window %d done (%s)", index, "interrupted" if interrupted else "complete")
        base = WindowResult(
            index=index,
            dir=f"windows/{index:04d}",
            prefix=prefix,
            seed=seed,
            start_s=round(start_s, 3),
            length_s=round(ran if interrupted else length, 3),
            wall_s=round(time.monotonic() - started, 3),
            interrupted=interrupted,
        )
        return WindowJob(
            base=base,
            window_dir=wdir,
            test=cfg.lab_test(seed, max(base.length_s, 1e-3)),
            outcome=outcome,
            error=error,
            rerun=cfg.rerun_command(),
            checker_timeout=cfg.checker_timeout,
            report=cfg.window_reports,
        )

    def stop(self) -> None:
        """What the first signal does: stop the current window now (its faults are healed),
        run no more, check what ran. Call it from the soak's event loop (a hook)."""
        if not self._stop.is_set():
            self._stop.set()
            self._stopping()

    def _stopping(self) -> None:
        self.interrupted = self.status.stopping = True
        self.status.phase = "stopping: checking what ran (a second signal abandons the checks)"
        for task in self._current:
            task.cancel()

    def _checked(
        self,
        fut: asyncio.Future[WindowResult],
        pending: set[asyncio.Future[WindowResult]],
        pool: Executor,
    ) -> None:
        pending.discard(fut)
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            if not self.request.hurried:  # else: a check abandoned, said once by _main
                self.errors.append(f"checking a window failed: {exc!r}")
            return
        result = fut.result()
        self.status.windows.append(result)
        try:
            self.write_results(final=False)
        except Exception as e:  # the next window or the end writes them again
            log.exception("writing results failed")
            self.errors.append(f"writing results failed: {e!r}")
        self.hooks.window(result)
        if result.end_s - self._last_report >= self.cfg.report_every and not self.status.stopping:
            self._last_report = result.end_s
            from lab.soak.report import write_soak_report

            pool.submit(write_soak_report, self.soak_dir).add_done_callback(_report_done)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """A window cut short by a signal drops its HTTP clients unclosed (`run_workload` closes
        them only when it finishes): say so in lab.log, not on the terminal."""
        if self.status.stopping and str(context.get("message", "")).startswith("Unclosed"):
            log.info("after the stop: %s", context.get("message"))
            return
        loop.default_exception_handler(context)

    async def _tick(self) -> None:
        while True:
            self.hooks.tick(self.status)
            await asyncio.sleep(0.5)


def _report_done(fut: Future[Path]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("redrawing the soak report failed: %r", fut.exception())


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop the checker process now, whatever it is doing."""
    procs = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate()
            proc.join(5)


def run_soak(
    cfg: SoakConfig, hooks: Hooks | None = None, request: StopRequest | None = None
) -> tuple[Path, dict[str, Any]]:
    """Run one soak; returns its directory and results (also in ``results.json``)."""
    return Soak(cfg, hooks, request=request).run()
