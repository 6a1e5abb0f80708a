"""``aspen-lab chaos``: run named chaos scenarios and say whether the cluster stayed correct.

Without ``--scenario`` it runs the default matrix at CI size. The exit status is 0 only when
every run's every verdict is ``valid``; each run leaves its directory in the store, with the
exact command to rerun it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.chaos.scenarios import DEFAULT_MATRIX, SCENARIOS
from lab.context import NodeOptions
from lab.interrupt import StopRequest, stop_on_signals
from lab.runner import RunStatus

if TYPE_CHECKING:
    from lab.test import LabTest
from lab.store import DEFAULT_ROOT


def configure(parser: argparse.ArgumentParser) -> None:
    from lab.chaos.support import support_table

    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "which db and runtime run which faults of each scenario (a fault that cannot be "
        "injected honestly is left out, and the run says so):\n" + support_table()
    )
    parser.add_argument(
        "--db",
        default="aspen",
        metavar="DB",
        help="system under test: aspen, etcd (Debian's etcd-server, local runtime), "
        "module:Class, file.py:Class or an adapter .toml (docs/byo-db.md); default aspen",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="scenario to run (repeatable); default: the whole matrix",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help="only this one of the scenario's faults (repeatable), e.g. partition-halves",
    )
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of workload")
    parser.add_argument("--seed", type=int, default=None, help="default: time-based, printed")
    parser.add_argument("--concurrency", type=int, default=6, help="client worker slots")
    parser.add_argument("--rate", type=float, default=0.0, help="total ops/s (0 = closed loop)")
    parser.add_argument("--keys", type=int, default=5, help="register keys")
    parser.add_argument("--runtime", choices=("local", "docker", "swarm"), default="local")
    parser.add_argument(
        "--swarm-init",
        action="store_true",
        help="swarm runtime: if the engine is in no swarm, create a single-node one for the "
        "run and leave it afterwards (never a swarm the lab did not create)",
    )
    parser.add_argument(
        "--swarm-hosts",
        metavar="H1,H2,...",
        default="",
        help="swarm runtime: place node i on the i-th of these swarm nodes (hostname, node id "
        "or label aspen.lab.host), in turn; default: spread over all ready nodes",
    )
    parser.add_argument(
        "--swarm-registry",
        metavar="REGISTRY",
        help="swarm runtime: push the node image there for the hosts to pull (default: copy "
        "it into each host's engine, docker save | docker load)",
    )
    parser.add_argument(
        "--toxiproxy-image",
        metavar="IMAGE",
        help="docker runtime: run this local image (e.g. ghcr.io/shopify/toxiproxy) as the "
        "Toxiproxy instead of ours; sets $ASPEN_TOXIPROXY_IMAGE",
    )
    parser.add_argument(
        "--fsync",
        choices=("always", "never"),
        default="always",
        help="never is UNSAFE: for proving the lab catches lost writes",
    )
    parser.add_argument(
        "--stale-reads",
        action="store_true",
        help="UNSAFE: clients read local state (Aspen: consistency=stale; etcd: serializable)",
    )
    parser.add_argument("--store", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    width = max(len(name) for name in SCENARIOS)
    parser.epilog = (
        "scenarios (default: "
        + ", ".join(DEFAULT_MATRIX)
        + "):\n"
        + "\n".join(f"  {name:{width}}  {s.description}" for name, s in sorted(SCENARIOS.items()))
    )


def _summary_line(name: str, run_dir: Path, results: dict[str, Any]) -> str:
    verdicts = " ".join(f"{k}={v}" for k, v in results["verdicts"].items())
    ops = results["ops"]["total"]
    from lab.report.templating import fmt_seconds, unsafe_modes
    from lab.stats import outcomes_text

    rec = results.get("recovery_seconds")
    rec_text = "n/a" if rec is None else fmt_seconds(rec).replace(" ", "")
    if results.get("interrupted"):
        status = "INTERRUPTED"
    else:
        status = "VALID" if results["valid"] else "NOT VALID"
    unsafe = unsafe_modes(results)
    if unsafe:
        expected = "invalid, as expected" if not results["valid"] else "NOT caught"
        status += f" (UNSAFE {' '.join(unsafe)}: {expected})"
    return (
        f"{status:11} {name:14} {verdicts}  {outcomes_text(ops)}  "
        f"{results['throughput']['ok_per_s']:.0f} ok/s  "
        f"recovery {rec_text}  wall {results['wall_seconds']:.0f}s  {run_dir}"
    )


def run(args: argparse.Namespace) -> int:
    """Run the scenarios; SIGINT or SIGTERM stops early without leaving anything running (see
    `lab.interrupt`): the current run is healed, stopped, checked and reported, no other starts.
    """
    with stop_on_signals() as stop:
        code = _run_all(args, stop)
    return stop.exit_code() if stop.requested else code


def _run_all(args: argparse.Namespace, stop: StopRequest) -> int:
    from lab.db.registry import DBSpecError
    from lab.runtime.swarm_options import SwarmOptions
    from lab.test import LabTest, run_test

    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=_Stderr()
    )
    logging.getLogger("lab").setLevel(logging.INFO)
    logging.getLogger("lab.toxiproxy").setLevel(logging.ERROR)
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    scenarios = args.scenario or DEFAULT_MATRIX
    if args.toxiproxy_image:
        os.environ["ASPEN_TOXIPROXY_IMAGE"] = args.toxiproxy_image  # read by DockerRuntime
    options = NodeOptions(fsync=args.fsync, stale_reads=args.stale_reads)
    failures = 0
    lines = []
    reruns = []
    tests = []
    for name in scenarios:
        try:
            tests.append(
                LabTest(
                    scenario=name,
                    seed=seed,
                    nodes=args.nodes,
                    duration=args.duration,
                    concurrency=args.concurrency,
                    rate=args.rate,
                    runtime=args.runtime,
                    node_options=options,
                    store=args.store,
                    keys=args.keys,
                    faults=tuple(args.fault),
                    db=args.db,
                    swarm=SwarmOptions(
                        init=args.swarm_init,
                        hosts=tuple(h for h in args.swarm_hosts.split(",") if h),
                        registry=args.swarm_registry,
                    ),
                )
            )
        except ValueError as e:  # unknown db, a fault that cannot run: nothing has started
            if args.scenario or isinstance(e, DBSpecError):
                print(f"error: {e}", file=sys.stderr)
                return 2
            print(f"    left out scenario {name}: {e}", flush=True)  # the default matrix
    for test in tests:
        name = test.scenario
        if stop.requested:
            break
        for skipped in test.fault_plan().skipped:
            print(f"    left out {skipped.fault}: {skipped.reason}", flush=True)
        print(
            f"--- {name} ({args.db}): seed {seed}, {args.nodes} nodes, {args.duration:g}s",
            flush=True,
        )
        progress = _progress(name, args.duration, args.quiet)
        written = ""
        try:
            run_dir, results = run_test(test, progress, stop)
            if not args.no_report:
                progress(RunStatus("reporting", args.duration))
                written = _report(run_dir, args.store)
        finally:
            progress.close()
        if written:
            print(written, flush=True)
        line = _summary_line(name, run_dir, results)
        lines.append(line)
        reruns.append(str(results["rerun"]))
        print(line, flush=True)
        if warning := no_fault_warning(test, results):
            print(f"    warning: {warning}", flush=True)
        for err in results["errors"]:
            print(f"    error: {err}", flush=True)
        for text in _counterexamples(results):
            print(f"    counterexample: {text}", flush=True)
        if not results["valid"]:
            failures += 1
    print("\n".join(["", "=== summary", *lines]), flush=True)
    print("\n".join(["rerun with:", *(f"  {r}" for r in reruns)]), flush=True)
    return 1 if failures else 0


def _counterexamples(results: dict[str, Any], limit: int = 3) -> list[str]:
    """What each invalid checker found (the operation no order can explain), for the terminal;
    the full account is in counterexample.html."""
    found = []
    for name, detail in results.get("checkers", {}).items():
        if results["verdicts"].get(name) != "invalid" or not isinstance(detail, dict):
            continue
        cases = detail.get("invalid") or [
            case for per in detail.get("per_node", {}).values() for case in per.get("invalid", [])
        ]
        found += [f"{name}: {case.get('message')}" for case in cases[:limit]]
    return found


def _report(run_dir: Path, store: Path) -> str:
    """Write the run's report.html and rebuild the index of every run in the store; returns
    the lines that say where they are."""
    from lab.report import write_index, write_run_report

    path = write_run_report(run_dir)
    index = write_index(store)
    return f"    report: {path.resolve()}\n    index:  {index.resolve()}"


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of each write. The progress bar swaps it for a
    proxy that prints above the bar; a handler holding the real stream would glue log lines
    onto the bar (``0:00:07INFO lab: ...``)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _progress:
    """The run's status line (rich), fed by the runner: phase, workload seconds done of the
    total, ok operations and their rate, and the fault open now, as the soak's line shows."""

    def __init__(self, name: str, total: float, quiet: bool) -> None:
        self._bar: Any = None
        if quiet or not sys.stderr.isatty():
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn(f"[bold]{name}"),
            BarColumn(),
            TextColumn("{task.fields[line]}"),
            TimeElapsedColumn(),
            transient=True,
            redirect_stderr=True,
        )
        self._total = total
        self._task = self._bar.add_task(name, total=total, line="starting")
        self._bar.start()

    def __call__(self, status: RunStatus) -> None:
        if self._bar is not None:
            self._bar.update(
                self._task, completed=status.elapsed, line=status_line(status, self._total)
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def status_line(s: RunStatus, total: float) -> str:
    """``workload 12/20 s · 1,430 ok (119/s) · fault partition-halves``."""
    parts: list[str] = [s.phase]
    if s.phase == "workload":
        parts[0] += f" {s.elapsed:.0f}/{total:g} s"
    if s.ok:
        rate = f" ({s.ok / s.elapsed:,.0f}/s)" if s.phase == "workload" and s.elapsed >= 1 else ""
        parts.append(f"{s.ok:,} ok{rate}")
    if s.fault:
        parts.append(f"fault {s.fault}")
    return " · ".join(parts)


def no_fault_warning(test: LabTest, results: dict[str, Any]) -> str | None:
    """Why a run that planned faults injected none (too short for its schedule), or None."""
    from lab.chaos.schedule import room_for_a_fault

    if results.get("faults") or results.get("interrupted") or not test.fault_plan().run:
        return None
    need = room_for_a_fault(test.the_scenario.timing)
    if test.duration >= need:
        return None  # the schedule had room: no fault means the run failed, which it says
    return (
        f"no fault was injected: {test.duration:g} s of workload left no room for a fault "
        f"window after the warm-up; a verdict without faults says nothing about them "
        f"(--duration {need:g} or more always injects one)"
    )
