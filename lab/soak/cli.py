"""``aspen-lab soak``: hours of steady load and periodic faults on one cluster, checked window
by window, watched for leaks and drift.

::

    aspen-lab soak                                   # CI size: 2 minutes, two 60 s windows
    aspen-lab soak --duration 8h --window 60s        # the nightly soak
    aspen-lab soak --duration 30m --scenario partition --rate 200

Writes ``config.json``, ``results.json`` (rewritten after every window), ``resources.jsonl``,
``report.html`` and ``windows/NNNN/`` to ``<store>/soak/<timestamp>/``. Exit status: 0 when
every window is valid and every leak check passes, 1 otherwise, 130 or 143 when stopped by
SIGINT (Ctrl-C) or SIGTERM with nothing failed in what ran or with its checks abandoned (a
second signal; see `lab.interrupt`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.chaos.scenarios import SCENARIOS
from lab.context import NodeOptions
from lab.soak.plan import format_duration, parse_duration, plan_windows
from lab.stats import outcomes_text
from lab.store import DEFAULT_ROOT


def duration(text: str) -> float:
    """argparse type for ``90s``, ``2m``, ``8h``."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    register = sorted(n for n, s in SCENARIOS.items() if s.workload == "register")
    parser.add_argument("--duration", type=duration, default=120.0, help="90s, 2m, 8h, 1h30m")
    parser.add_argument("--window", type=duration, default=60.0, help="length of a window")
    parser.add_argument("--scenario", choices=register, default="mixed")
    parser.add_argument(
        "--fault", action="append", default=[], help="only this fault of the scenario (repeatable)"
    )
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None, help="default: time-based, printed")
    parser.add_argument("--rate", type=float, default=100.0, help="total ops/s")
    parser.add_argument("--concurrency", type=int, default=4, help="client worker slots")
    parser.add_argument("--keys", type=int, default=5, help="register keys per window")
    parser.add_argument("--runtime", choices=("local", "docker"), default="local")
    parser.add_argument(
        "--warmup",
        type=duration,
        default=None,
        help="skipped by leak checks (default: 25%%, <= 10m)",
    )
    parser.add_argument(
        "--window-reports",
        choices=("all", "failed", "none"),
        default="failed",
        help="write each window's own report.html",
    )
    parser.add_argument("--store", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--quiet", action="store_true", help="no live progress display")


def config_from_args(args: argparse.Namespace) -> Any:
    from lab.soak.config import SoakConfig

    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    return SoakConfig(
        duration=args.duration,
        window=args.window,
        scenario=args.scenario,
        faults=tuple(args.fault),
        nodes=args.nodes,
        seed=seed,
        rate=args.rate,
        concurrency=args.concurrency,
        keys=args.keys,
        runtime=args.runtime,
        store=args.store,
        node_options=NodeOptions(),
        warmup=args.warmup,
        window_reports=args.window_reports,
    )


def run(args: argparse.Namespace) -> int:
    from lab.interrupt import StopRequest, stop_on_signals
    from lab.soak.run import STOP_NOTES, Hooks, run_soak

    root = logging.getLogger()
    if not root.handlers:  # the terminal gets warnings; the soak's lab.log gets it all
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
    logging.getLogger("lab").setLevel(logging.INFO)
    logging.getLogger("lab.toxiproxy").setLevel(logging.ERROR)
    try:
        cfg = config_from_args(args)
    except ValueError as e:
        print(f"aspen-lab soak: {e}", file=sys.stderr)
        return 2
    lengths = plan_windows(cfg.duration, cfg.window)
    print(
        f"--- soak {cfg.scenario}: {format_duration(cfg.duration)} in {len(lengths)} windows of "
        f"{lengths[0]:.0f}s, seed {cfg.seed}, {cfg.nodes} nodes, {cfg.rate:g} ops/s",
        flush=True,
    )
    display = Display(cfg.duration, enabled=not args.quiet)
    with stop_on_signals(StopRequest(STOP_NOTES)) as stop:
        try:
            soak_dir, results = run_soak(cfg, Hooks(display.tick, display.window), stop)
        finally:
            display.close()
    for line in summary(soak_dir, results):
        print(line, flush=True)
    from lab.report.index import write_index

    print(f"index: {write_index(args.store).resolve()}", flush=True)
    print(f"rerun with: {cfg.rerun_command()}", flush=True)
    # Stopped early, with nothing found wrong in what ran or with the checks abandoned (a
    # second signal: no verdict either way), a soak exits as the signal says.
    stopped = results["interrupted"] and (_nothing_failed(results) or stop.hurried)
    if not results["valid"] and not stopped:
        return 1
    if results["interrupted"]:
        return stop.exit_code() if stop.requested else 130  # stopped by a hook: as Ctrl-C
    return 0


def _nothing_failed(results: dict[str, Any]) -> bool:
    return "invalid" not in results["verdicts"].values() and not results["errors"]


def window_line(w: Any) -> str:
    faults = ", ".join(f["fault"] for f in w.faults) or "none"
    rec = "n/a" if w.recovery_s is None else f"{w.recovery_s:.1f}s"
    status = w.status.upper() + (" (interrupted)" if w.interrupted else "")
    return (
        f"window {w.index:>4} {status:9} {faults:26} {outcomes_text(w.ops)}  "
        f"{w.ok_per_s:.0f} ok/s  "
        f"p99 {w.p99_ms:.1f} ms (steady {w.steady_p99_ms:.1f})  recovery {rec}"
    )


def summary(soak_dir: Path, results: dict[str, Any]) -> list[str]:
    status = "VALID" if results["valid"] else "NOT VALID"
    if results["interrupted"]:
        status += " (interrupted)"
    lines = ["", f"=== soak {status}: {soak_dir}"]
    lines.append(
        "    " + "  ".join(f"{k}={v}" for k, v in results["verdicts"].items())
        + f"  windows {results['windows_checked']}/{results['windows_planned']}"
        f"  ok={results['ops']['total']['ok']}  {results['throughput']['ok_per_s']:.0f} ok/s"
        f"  p99 {results['latency_ms']['ok']['p99']:.1f} ms"
    )  # fmt: skip
    from lab.soak.report import fmt_value

    for c in results["leaks"]["checks"]:
        mark = {"fail": "FAIL", "not judged": "n/j "}.get(c.get("result", ""), "pass")
        node = c["node"] or "all"
        lines.append(
            f"    {mark} {c['name']:16} {node:4} {fmt_value(c['value'], c['unit']):>16}  "
            f"(limit {fmt_value(c['threshold'], c['unit'])})"
        )
    for e in results["errors"]:
        lines.append(f"    error: {e}")
    lines.append(f"    report: {soak_dir / 'report.html'}")
    return lines


class Display:
    """elapsed / total, ops/s, current window and fault (rich); plain lines when not a tty."""

    def __init__(self, total: float, *, enabled: bool) -> None:
        self._live: Any = None
        self._total = total
        self._print: Callable[[str], None] = lambda s: print(s, flush=True)
        if not enabled or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        self._live = Progress(
            TextColumn("[bold]soak"),
            BarColumn(bar_width=16),
            TextColumn("{task.fields[clock]}"),
            TextColumn("{task.fields[line]}"),
            console=Console(stderr=True),
            refresh_per_second=2,
            transient=True,
        )
        self._task = self._live.add_task("soak", total=total, clock="", line="")
        self._print = self._live.console.print
        self._live.start()

    def tick(self, st: Any) -> None:
        if self._live is None:
            return
        window = "-" if st.window is None else f"{st.window + 1}/{st.planned}"
        line = (
            f"window {window}  {st.ops_per_s:5.1f} ok/s  fault {st.fault or '-'}  "
            f"checked {len(st.windows)}"
            + (f" [red]{st.failed_windows} failed[/]" if st.failed_windows else "")
            + ("" if st.phase == "running" else f"  {st.phase}")
        )
        clock = f"{_clock(st.progress_s)}/{_clock(self._total)}"
        self._live.update(self._task, completed=st.progress_s, clock=clock, line=line)

    def window(self, w: Any) -> None:
        self._print(window_line(w))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
