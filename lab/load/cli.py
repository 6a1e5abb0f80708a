"""``aspen-lab load``: YCSB-style load against a local cluster (or given endpoints).

::

    aspen-lab load                                   # A,B,C,F,W closed loop, 16 clients, 10 s each
    aspen-lab load --workloads A --mode open --rate 500
    aspen-lab load --workloads C --mode ramp --ramp 200:200:3000 --p99-bound-ms 50
    aspen-lab load --save-baseline base.json         # then, later:
    aspen-lab load --baseline base.json              # exits 1 when a gate fails

Writes ``results.json`` and ``report.html`` to ``<store>/load/<timestamp>/``. Exit status: 0,
1 when a gate failed, 2 when the run could not be set up, 130 or 143 when stopped by SIGINT
(Ctrl-C) or SIGTERM: the run stops, finished numbers are written (see `lab.interrupt`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from lab.interrupt import StopRequest, stop_on_signals
from lab.load import engine, gates, report, results
from lab.load.cluster import DATABASES, local_cluster
from lab.load.distributions import DISTRIBUTIONS
from lab.load.engine import Phase, Ramp, Tally
from lab.load.monitor import Monitor
from lab.load.targets import AspenTarget, EtcdTarget, Target
from lab.load.workloads import WORKLOADS, KeySpace, Mix, load_plan, parse_workloads, plan
from lab.runtime.base import Runtime
from lab.store import DEFAULT_ROOT, new_run_dir, read_json, write_json

PLAN_CAP = 1 << 20
"""Pre-generated operations per workload (a longer run cycles through them)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.description = __doc__.split("\n\n")[0]
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    w = p.add_argument_group("workload")
    w.add_argument(
        "--workloads",
        default="A,B,C,F,W",
        help="comma-separated YCSB mixes: "
        + "; ".join(f"{name} {mix.description}" for name, mix in WORKLOADS.items()).replace(
            "%", "%%"
        ),
    )
    w.add_argument("--distribution", choices=DISTRIBUTIONS, default="zipfian")
    w.add_argument("--theta", type=float, default=0.99, help="zipfian skew")
    w.add_argument("--records", type=int, default=1000, help="keys inserted by the load phase")
    w.add_argument("--key-size", type=int, default=16, help="bytes per key")
    w.add_argument("--value-size", type=int, default=100, help="bytes per value")
    w.add_argument("--no-load", action="store_true", help="skip the load phase")
    w.add_argument("--seed", type=int, default=1)
    m = p.add_argument_group("load shape (every phase is bounded in time and operations)")
    m.add_argument("--mode", choices=("closed", "open", "ramp"), default="closed")
    m.add_argument("--clients", type=int, default=16, help="closed loop: concurrent clients")
    m.add_argument("--rate", type=float, default=500.0, help="open loop: target ops/s")
    m.add_argument("--max-in-flight", type=int, default=128, help="open loop and ramp")
    m.add_argument("--duration", type=float, default=10.0, help="seconds per workload")
    m.add_argument("--max-ops", type=int, default=1_000_000, help="operations per workload")
    m.add_argument("--ramp", default="200:200:4000", help="START:STEP:STOP ops/s")
    m.add_argument("--step-duration", type=float, default=5.0, help="seconds per ramp step")
    m.add_argument("--p99-bound-ms", type=float, default=50.0, help="the ramp's latency bound")
    m.add_argument("--op-timeout", type=float, default=5.0, help="seconds per request")
    t = p.add_argument_group("target")
    t.add_argument("--db", choices=DATABASES, default="aspen")
    t.add_argument("--endpoints", help="comma-separated URLs of a running cluster (none started)")
    t.add_argument("--nodes", type=int, default=3)
    t.add_argument("--fsync", choices=("always", "never"), default="always")
    t.add_argument("--profile-nodes", type=Path, help="run Aspen nodes under cProfile, into DIR")
    t.add_argument("--store", type=Path, default=DEFAULT_ROOT)
    g = p.add_argument_group("sign-off gates")
    g.add_argument("--baseline", type=Path, help="compare with this baseline; exit 1 on a fail")
    g.add_argument("--save-baseline", type=Path, help="write this run as a baseline")
    g.add_argument("--gate-throughput", type=float, default=10.0, help="max drop, percent")
    g.add_argument("--gate-p99", type=float, default=20.0, help="max p99 rise, percent")
    g.add_argument("--gate-error-rate", type=float, default=0.1, help="max error rate, percent")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    p.add_argument("--no-uvloop", action="store_true", help="the standard asyncio event loop")


def parse_ramp(text: str, step_duration: float, p99_ms: float) -> Ramp:
    try:
        start, step, stop = (float(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"--ramp wants START:STEP:STOP, got {text!r}") from None
    return Ramp(start, step, stop, step_duration, p99_ms)


def make_target(
    db: str, endpoints: list[str], space: KeySpace, seed: int, *, timeout: float, connections: int
) -> Target:
    keys, values = space.keys(), space.values(seed)
    cls = AspenTarget if db == "aspen" else EtcdTarget
    return cls(endpoints, keys, values, timeout=timeout, connections=connections)


# --- progress -----------------------------------------------------------------------------------


class Progress:
    """A live line per phase: elapsed / total seconds and ops/s (rich), or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.completed:>7.1f}/{task.total:.0f} {task.fields[unit]}"),
            TextColumn("{task.fields[ops]:>9} ops {task.fields[rate]:>9.1f} ops/s"),
            TextColumn("{task.fields[errors]} errors"),
            TimeElapsedColumn(),
            refresh_per_second=2,
            transient=False,
        )
        with self._progress:
            yield
        self._progress = None

    @contextlib.asynccontextmanager
    async def track(
        self, label: str, total: float, tally: Tallied, *, by_ops: bool = False
    ) -> AsyncIterator[None]:
        """Show ``tally``'s progress while the block runs (a plain line when not a terminal):
        seconds elapsed of ``total``, or with ``by_ops`` operations done of ``total``."""
        started = time.monotonic()
        if self._progress is None:
            yield
            elapsed = time.monotonic() - started
            print(
                f"{label}: {tally.done} ops in {elapsed:.1f} s "
                f"({tally.done / max(elapsed, 1e-3):.1f} ops/s), {tally.error_count} errors",
                file=sys.stderr,
                flush=True,
            )
            return
        unit = "ops" if by_ops else "s"
        task = self._progress.add_task(label, total=total, ops=0, rate=0.0, errors=0, unit=unit)

        async def poll() -> None:
            while True:
                elapsed = time.monotonic() - started
                self._progress.update(
                    task,
                    completed=min(tally.done if by_ops else elapsed, total),
                    ops=tally.done,
                    rate=tally.done / max(elapsed, 1e-3),
                    errors=tally.error_count,
                )
                await asyncio.sleep(0.5)

        poller = asyncio.ensure_future(poll())
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            self._progress.update(task, completed=total, ops=tally.done)


class Tallied(Protocol):
    @property
    def done(self) -> int: ...

    @property
    def error_count(self) -> int: ...


# --- the run ------------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> dict[str, Any]:
    skip = {"run", "command", "func"}
    return {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in skip
    }


def _entry(mix: Mix, args: argparse.Namespace, summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "workload": mix.name,
        "description": mix.description,
        "distribution": args.distribution,
        **summary,
    }


async def _workload(
    target: Target,
    mix: Mix,
    space: KeySpace,
    args: argparse.Namespace,
    stop: asyncio.Event,
    progress: Progress,
) -> dict[str, Any]:
    length = min(args.max_ops, PLAN_CAP)
    p = plan(
        mix, space, length=length, seed=args.seed, distribution=args.distribution, theta=args.theta
    )
    if args.mode == "ramp":
        ramp = parse_ramp(args.ramp, args.step_duration, args.p99_bound_ms)
        tallies: list[Tally] = []
        total = ramp.step_duration * len(ramp.rates())
        async with progress.track(f"{mix.name} ramp", total, _RampTally(tallies)):
            knee, _ = await engine.run_ramp(
                target,
                p,
                ramp,
                clients=args.max_in_flight,
                max_ops=args.max_ops,
                stop=stop,
                drain=args.op_timeout,
                on_step=lambda _rate, t: tallies.append(t),
            )
        # The workload's numbers are the knee's step (or the first step, if none passed).
        passing = [t for t, s in zip(tallies, knee["steps"], strict=False) if s["passed"]]
        chosen = passing or tallies[:1] or [Tally(Phase(mix.name, "open", 1, 1, 1, ramp.start))]
        shown = chosen[-1].summary()
        return {**_entry(mix, args, shown), "ramp": knee}
    if args.mode == "open":
        phase = Phase(
            mix.name,
            "open",
            args.duration,
            args.max_ops,
            args.max_in_flight,
            rate=args.rate,
            drain=args.op_timeout,
        )
    else:
        phase = Phase(mix.name, "closed", args.duration, args.max_ops, args.clients)
    tally = Tally(phase)
    async with progress.track(f"{mix.name} {args.mode}", args.duration, tally):
        await engine.run_phase(target, p, phase, stop=stop, tally=tally)
    return _entry(mix, args, tally.summary())


class _RampTally:
    """Progress for a ramp: the steps' tallies added up."""

    def __init__(self, tallies: list[Tally]) -> None:
        self._tallies = tallies

    @property
    def done(self) -> int:
        return sum(t.done for t in self._tallies)

    @property
    def error_count(self) -> int:
        return sum(t.error_count for t in self._tallies)


STOP_NOTES = (
    "stopping: ending the workload, writing what ran ({signal} again to abandon the operations"
    " still in flight)",
    "abandoning the operations in flight; still stopping the nodes",
)


async def run_load(
    args: argparse.Namespace,
    run_dir: Path,
    res: dict[str, Any],
    stop: StopRequest,
    on_update: Callable[[dict[str, Any]], None] = lambda _r: None,
) -> dict[str, Any]:
    """Set up (or reach) the cluster, load the records, run every workload; fills ``res``.

    A first signal (``stop``) ends the phase running and starts no other; a second abandons
    what is still in flight. The nodes started are stopped either way."""
    async with contextlib.AsyncExitStack() as stack:
        await stop.unless_hurried(_load(args, run_dir, res, stop.event(), stack, on_update))
    res["interrupted"] = stop.first or False
    return res


async def _load(
    args: argparse.Namespace,
    run_dir: Path,
    res: dict[str, Any],
    stop: asyncio.Event,
    stack: contextlib.AsyncExitStack,
    on_update: Callable[[dict[str, Any]], None],
) -> None:
    """The part a second signal may cut: what it starts is stopped by ``stack``, outside it."""
    mixes = parse_workloads(args.workloads)
    space = KeySpace(args.records, args.key_size, args.value_size)
    progress = Progress(not args.no_progress)
    runtime: Runtime | None = None
    nodes: list[int] = []
    if args.endpoints:
        endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    else:
        cluster = await stack.enter_async_context(
            local_cluster(
                args.db,
                run_dir,
                nodes=args.nodes,
                fsync=args.fsync,
                profile_dir=args.profile_nodes,
            )
        )
        endpoints = cluster.endpoints
        runtime, nodes = cluster.ctx.runtime, cluster.ctx.nodes
    res["target"]["endpoints"] = endpoints
    connections = max(args.clients, args.max_in_flight)
    target = make_target(
        args.db,
        endpoints,
        space,
        args.seed,
        timeout=args.op_timeout,
        connections=connections,
    )
    stack.push_async_callback(target.close)
    await target.start()
    with progress.shown():
        if not args.no_load and not stop.is_set():
            lp = load_plan(space, args.seed)
            phase = Phase("load", "closed", 600.0, len(lp), args.clients)
            tally = Tally(phase)
            async with progress.track("load", len(lp), tally, by_ops=True):
                await engine.run_phase(target, lp, phase, stop=stop, tally=tally)
            res["load_phase"] = tally.summary()
            on_update(res)
        for mix in mixes:
            if stop.is_set():
                break
            monitor = Monitor(runtime, nodes)
            async with monitor.watching():
                entry = await _workload(target, mix, space, args, stop, progress)
            entry["resources"] = monitor.summary()
            res["workloads"][mix.name] = entry
            on_update(res)


def print_summary(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title=f"load: {res['target'].get('db')} ({res['machine']['cores']} cores)")
    for col in ("workload", "mode", "ops", "errors", "ops/s", "p50", "p95", "p99", "p99.9", "max"):
        table.add_column(col, justify="left" if col in ("workload", "mode") else "right")
    for name, w in res["workloads"].items():
        lat = w["latency_ms"]
        table.add_row(
            name,
            w["mode"] + (f" knee {w['ramp']['knee_rate']}" if w.get("ramp") else ""),
            str(w["ops"]),
            str(w["error_count"]),
            f"{w['throughput']:.1f}",
            *(f"{lat[k]:.2f}" for k in ("p50", "p95", "p99", "p99.9", "max")),
        )
    console.print(table)
    g = res.get("gates")
    if g:
        for warning in g["warnings"]:
            console.print(f"[yellow]warning:[/yellow] {warning}")
        gt = Table(title="gates " + ("PASS" if g["passed"] else "FAIL"))
        for col in ("workload", "gate", "value", "baseline", "delta", "limit", "result"):
            gt.add_column(col)
        for x in g["results"]:
            gt.add_row(
                x["workload"],
                x["gate"],
                report._fmt_gate(x["gate"], x["value"]),
                report._fmt_gate(x["gate"], x["baseline"]),
                report._fmt_delta(x["gate"], x["delta"]),
                x["limit"],
                "[green]pass[/green]" if x["passed"] else "[red]FAIL[/red]",
            )
        console.print(gt)


def event_loop_runner(no_uvloop: bool) -> asyncio.Runner:
    if not no_uvloop:
        try:
            import uvloop

            return asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            pass
    return asyncio.Runner()


def run(args: argparse.Namespace) -> int:
    try:
        parse_workloads(args.workloads)
        KeySpace(args.records, args.key_size, args.value_size)
        if args.mode == "ramp":
            parse_ramp(args.ramp, args.step_duration, args.p99_bound_ms)
        thresholds = gates.Gates(
            args.gate_throughput / 100, args.gate_p99 / 100, args.gate_error_rate / 100
        )
        baseline = read_json(args.baseline) if args.baseline else None
    except (ValueError, OSError, json.JSONDecodeError) as e:
        print(f"aspen-lab load: {e}", file=sys.stderr)
        return 2
    if baseline is not None and (problems := results.validate(baseline)):
        print(f"aspen-lab load: bad baseline {args.baseline}: {problems}", file=sys.stderr)
        return 2
    run_dir = new_run_dir("load", args.store)
    res = results.new_results(
        _config(args), {"db": args.db, "nodes": args.nodes, "fsync": args.fsync}
    )

    def save(r: dict[str, Any]) -> None:
        write_json(run_dir / "results.json", r)

    error: str | None = None
    with stop_on_signals(StopRequest(STOP_NOTES)) as stop:
        try:
            with event_loop_runner(args.no_uvloop) as runner:
                runner.run(run_load(args, run_dir, res, stop, save))
        except Exception as e:  # setup failures: still write what we have
            error = f"{type(e).__name__}: {e}"
            res["error"] = error
            res["interrupted"] = stop.first or False
    results.finish(res)
    if baseline is not None and res["workloads"]:
        res["gates"] = gates.compare(res, baseline, thresholds)
    save(res)
    report.write_report(res, run_dir / "report.html")
    if args.save_baseline and res["workloads"] and not res["interrupted"] and error is None:
        args.save_baseline.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.save_baseline, results.as_baseline(res))
    if res["workloads"]:
        print_summary(res)
    from lab.report.index import write_index

    index = write_index(args.store)
    print(f"results: {run_dir / 'results.json'}\nreport:  {run_dir / 'report.html'}")
    print(f"index:   {index.resolve()}")
    if error is not None:
        print(f"aspen-lab load: {error}", file=sys.stderr)
        return 2
    if res["interrupted"]:
        return stop.exit_code()
    if res.get("gates") and not res["gates"]["passed"]:
        return 1
    return 0
