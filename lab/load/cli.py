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
import json
import sys
from pathlib import Path
from typing import Any

from lab.interrupt import StopRequest, stop_on_signals
from lab.load import report, results
from lab.load.cluster import DATABASES
from lab.load.config import MODES, LoadConfig
from lab.load.distributions import DISTRIBUTIONS
from lab.load.run import STOP_NOTES, execute
from lab.load.workloads import WORKLOADS
from lab.store import read_json


def configure(p: argparse.ArgumentParser) -> None:
    p.description = __doc__.split("\n\n")[0]
    D = LoadConfig()
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    w = p.add_argument_group("workload")
    w.add_argument(
        "--workloads",
        default=D.workloads,
        help="comma-separated YCSB mixes: "
        + "; ".join(f"{name} {mix.description}" for name, mix in WORKLOADS.items()).replace(
            "%", "%%"
        ),
    )
    w.add_argument("--distribution", choices=DISTRIBUTIONS, default=D.distribution)
    w.add_argument("--theta", type=float, default=D.theta, help="zipfian skew")
    w.add_argument("--records", type=int, default=D.records, help="keys inserted by the load phase")
    w.add_argument("--key-size", type=int, default=D.key_size, help="bytes per key")
    w.add_argument("--value-size", type=int, default=D.value_size, help="bytes per value")
    w.add_argument("--no-load", action="store_true", help="skip the load phase")
    w.add_argument("--seed", type=int, default=D.seed)
    m = p.add_argument_group("load shape (every phase is bounded in time and operations)")
    m.add_argument("--mode", choices=MODES, default=D.mode)
    m.add_argument("--clients", type=int, default=D.clients, help="closed loop: concurrent clients")
    m.add_argument("--rate", type=float, default=D.rate, help="open loop: target ops/s")
    m.add_argument("--max-in-flight", type=int, default=D.max_in_flight, help="open loop and ramp")
    m.add_argument("--duration", type=float, default=D.duration, help="seconds per workload")
    m.add_argument("--max-ops", type=int, default=D.max_ops, help="operations per workload")
    m.add_argument("--ramp", default=D.ramp, help="START:STEP:STOP ops/s")
    m.add_argument(
        "--step-duration", type=float, default=D.step_duration, help="seconds per ramp step"
    )
    m.add_argument(
        "--p99-bound-ms", type=float, default=D.p99_bound_ms, help="the ramp's latency bound"
    )
    m.add_argument("--op-timeout", type=float, default=D.op_timeout, help="seconds per request")
    t = p.add_argument_group("target")
    t.add_argument("--db", choices=DATABASES, default=D.db)
    t.add_argument("--endpoints", help="comma-separated URLs of a running cluster (none started)")
    t.add_argument("--nodes", type=int, default=D.nodes)
    t.add_argument("--fsync", choices=("always", "never"), default=D.fsync)
    t.add_argument("--profile-nodes", type=Path, help="run Aspen nodes under cProfile, into DIR")
    t.add_argument("--store", type=Path, default=D.store)
    g = p.add_argument_group("sign-off gates")
    g.add_argument("--baseline", type=Path, help="compare with this baseline; exit 1 on a fail")
    g.add_argument("--save-baseline", type=Path, help="write this run as a baseline")
    g.add_argument(
        "--gate-throughput", type=float, default=D.gate_throughput, help="max drop, percent"
    )
    g.add_argument("--gate-p99", type=float, default=D.gate_p99, help="max p99 rise, percent")
    g.add_argument(
        "--gate-error-rate", type=float, default=D.gate_error_rate, help="max error rate, percent"
    )
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    p.add_argument("--no-uvloop", action="store_true", help="the standard asyncio event loop")


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


def run(args: argparse.Namespace) -> int:
    try:
        cfg = LoadConfig.from_args(args)
        baseline = read_json(cfg.baseline) if cfg.baseline else None
    except (ValueError, OSError, json.JSONDecodeError) as e:
        print(f"aspen-lab load: {e}", file=sys.stderr)
        return 2
    if baseline is not None and (problems := results.validate(baseline)):
        print(f"aspen-lab load: bad baseline {cfg.baseline}: {problems}", file=sys.stderr)
        return 2
    with stop_on_signals(StopRequest(STOP_NOTES)) as stop:
        done = execute(cfg, baseline, stop)
    res, run_dir = done.results, done.run_dir
    if res["workloads"]:
        print_summary(res)
    from lab.report.index import write_index

    index = write_index(cfg.store)
    print(f"results: {run_dir / 'results.json'}\nreport:  {run_dir / 'report.html'}")
    print(f"index:   {index.resolve()}")
    if done.error is not None:
        print(f"aspen-lab load: {done.error}", file=sys.stderr)
        return 2
    if res["interrupted"]:
        return stop.exit_code()
    if res.get("gates") and not res["gates"]["passed"]:
        return 1
    return 0
