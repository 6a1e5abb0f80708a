"""``python -m lab.load.bench`` (``nox -s bench``): put and linearizable-get throughput and latency.

Starts a 3-node Aspen cluster (local processes, ``--fsync always``), inserts ``--records`` keys
(16-byte keys, 64-byte values), then measures closed-loop puts and linearizable gets at each
client count (default 1, 16, 32, 64), each for ``--duration`` seconds (and at most ``--max-ops``
operations). Prints a table and writes ``bench-results/bench.json``.

``--vs etcd`` starts a 3-node etcd beside it and measures it with the same load generator in
the same run, interleaved (Aspen then etcd at each step, so both see the same background load),
and prints Aspen/etcd ratios of throughput and p99. Every process started is stopped at the end,
Ctrl-C or SIGTERM included (the first stops measuring and still writes what was measured; see
`lab.interrupt`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.interrupt import StopRequest, stop_on_signals
from lab.load import engine, results
from lab.load.cluster import local_cluster
from lab.load.engine import Phase
from lab.load.monitor import Monitor
from lab.load.run import event_loop_runner, make_target
from lab.load.targets import Target
from lab.load.workloads import WORKLOADS, KeySpace, load_plan, plan
from lab.runtime.base import Runtime
from lab.store import write_json

"""Where Aspen is held to etcd: >= 1.0x its throughput and <= 1.0x its p99."""
OPS = {"put": "W", "get": "C"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m lab.load.bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--vs", choices=("etcd",), help="also measure this store, same run")
    p.add_argument("--clients", default="1,16,32,64", help="client counts")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    p.add_argument("--max-ops", type=int, default=200_000, help="operations per measurement")
    p.add_argument("--records", type=int, default=1000)
    p.add_argument("--key-size", type=int, default=16)
    p.add_argument("--value-size", type=int, default=64)
    p.add_argument("--fsync", choices=("always", "never"), default="always")
    p.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    p.add_argument("--profile-nodes", type=Path, help="run Aspen nodes under cProfile, into DIR")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-uvloop", action="store_true")
    return p.parse_args(argv)


def _row(db: str, op: str, clients: int, s: dict[str, Any]) -> dict[str, Any]:
    return {
        "db": db,
        "op": op,
        "clients": clients,
        "ops": s["ops"],
        "errors": s["errors"],
        "error_count": s["error_count"],
        "throughput": s["throughput"],
        "latency_ms": s["latency_ms"],
        "duration_s": s["duration_s"],
        "client_cpu_us_per_op": s["client_cpu_us_per_op"],
        "interrupted": s["interrupted"],
    }


def ratios(rows: list[dict[str, Any]], other: str) -> list[dict[str, Any]]:
    """Aspen / ``other`` for every (op, clients) both measured: throughput, p50 and p99."""
    by = {(r["db"], r["op"], r["clients"]): r for r in rows}
    out = []
    for (db, op, clients), a in by.items():
        b = by.get((other, op, clients))
        if db != "aspen" or b is None:
            continue
        ratio: dict[str, Any] = {"op": op, "clients": clients}
        ratio["throughput_ratio"] = _ratio(a["throughput"], b["throughput"])
        for q in ("p50", "p99"):
            ratio[f"{q}_ratio"] = _ratio(a["latency_ms"][q], b["latency_ms"][q])
        out.append(ratio)
    return out


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass(frozen=True, slots=True)
class Goal:
    """One release target, as issue #19 states it: ``metric`` (a ratio to the other store) of
    ``op`` at ``clients`` must be at least ``least`` or at most ``most``."""

    op: str
    clients: int
    metric: str
    least: float | None = None
    most: float | None = None

    @property
    def name(self) -> str:
        bound = f">= {self.least}" if self.least is not None else f"<= {self.most}"
        return f"{self.op} at {self.clients} clients: {self.metric} {bound}x"

    def judge(self, rs: list[dict[str, Any]]) -> dict[str, Any]:
        """``met`` is None when the run did not measure this op at this many clients."""
        row = next((r for r in rs if r["op"] == self.op and r["clients"] == self.clients), None)
        value = None if row is None else row.get(self.metric)
        met = None
        if value is not None:
            met = value >= self.least if self.least is not None else value <= (self.most or 0)
        return {"target": self.name, "value": value, "met": met}


GOALS = (
    Goal("put", 32, "throughput_ratio", least=1.0),
    Goal("put", 32, "p99_ratio", most=1.0),
    Goal("put", 64, "throughput_ratio", least=1.0),
    Goal("put", 64, "p99_ratio", most=1.0),
    Goal("put", 1, "p50_ratio", most=1.0),
    Goal("get", 32, "throughput_ratio", least=1.1),
    Goal("get", 64, "throughput_ratio", least=1.1),
)
"""Puts at 32 and 64 clients at least etcd's throughput with at most its p99; one client's put
p50 at most etcd's; gets at least 1.1x etcd's throughput."""


def verdicts(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per target, so a release can be gated on the JSON."""
    return [g.judge(rs) for g in GOALS]


async def _measure(
    args: argparse.Namespace, workdir: Path, out: dict[str, Any], stop: StopRequest
) -> None:
    """Measure every step; a first signal ends the step running and starts no other, a second
    abandons it. The clusters started are stopped either way (``stack``, outside the work)."""
    async with contextlib.AsyncExitStack() as stack:
        await stop.unless_hurried(_steps(args, workdir, out, stop.event(), stack))


async def _steps(
    args: argparse.Namespace,
    workdir: Path,
    out: dict[str, Any],
    stop: asyncio.Event,
    stack: contextlib.AsyncExitStack,
) -> None:
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    space = KeySpace(args.records, args.key_size, args.value_size)
    dbs = ["aspen", *([args.vs] if args.vs else [])]
    plans = {
        op: plan(WORKLOADS[w], space, length=min(args.max_ops, 1 << 18), seed=args.seed,
                 distribution="uniform")
        for op, w in OPS.items()
    }  # fmt: skip
    targets: dict[str, Target] = {}
    monitors: dict[str, tuple[Runtime, list[int]]] = {}
    for db in dbs:
        if stop.is_set():
            return
        print(f"starting a 3-node {db} cluster ...", file=sys.stderr, flush=True)
        cluster = await stack.enter_async_context(
            local_cluster(
                db,
                workdir,
                fsync=args.fsync,
                profile_dir=args.profile_nodes if db == "aspen" else None,
            )
        )
        t = make_target(
            db, cluster.endpoints, space, args.seed, timeout=5.0, connections=max(levels)
        )
        stack.push_async_callback(t.close)
        await t.start()
        lp = load_plan(space, args.seed)
        await engine.run_phase(t, lp, Phase("load", "closed", 120, len(lp), 16), stop=stop)
        targets[db] = t
        monitors[db] = (cluster.ctx.runtime, cluster.ctx.nodes)
    for clients in levels:
        for op in OPS:
            for db in dbs:
                if stop.is_set():
                    return
                phase = Phase(op, "closed", args.duration, args.max_ops, clients)
                monitor = Monitor(*monitors[db])
                async with monitor.watching():
                    tally = await engine.run_phase(targets[db], plans[op], phase, stop=stop)
                row = _row(db, op, clients, tally.summary())
                row["resources"] = monitor.summary()
                out["results"].append(row)
                print(_line(row), file=sys.stderr, flush=True)


def _line(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    res = r.get("resources") or {}
    return (
        f"{r['db']:<6} {r['op']:<4} {r['clients']:>4} clients {r['throughput']:>9.1f} ops/s "
        f"p50 {lat['p50']:>7.2f} p99 {lat['p99']:>7.2f} p99.9 {lat['p99.9']:>7.2f} ms"
        f"  errors {r['error_count']}"
        f"  cpu% nodes {res.get('nodes_cpu_percent_total')}"
        f" machine {res.get('machine_cpu_percent')} generator {res.get('generator_cpu_percent')}"
    )


def print_table(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 120)
    t = Table(title=f"bench ({out['machine']['cores']} cores, {out['machine']['cpu_model']})")
    for col in ("db", "op", "clients", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "errors"):
        t.add_column(col, justify="left" if col in ("db", "op") else "right")
    for r in out["results"]:
        lat = r["latency_ms"]
        t.add_row(
            r["db"],
            r["op"],
            str(r["clients"]),
            f"{r['throughput']:.1f}",
            f"{lat['p50']:.2f}",
            f"{lat['p99']:.2f}",
            f"{lat['p99.9']:.2f}",
            str(r["error_count"]),
        )
    console.print(t)
    if out.get("ratios"):
        rt = Table(title=f"Aspen / {out['config']['vs']}")
        for col in ("op", "clients", "throughput ratio", "p50 ratio", "p99 ratio"):
            rt.add_column(col, justify="right")
        for r in out["ratios"]:
            shown = [
                "-" if r[k] is None else f"{r[k]:.2f}x"
                for k in ("throughput_ratio", "p50_ratio", "p99_ratio")
            ]
            rt.add_row(r["op"], str(r["clients"]), *shown)
        console.print(rt)
        for v in out["targets"]:
            value = "-" if v["value"] is None else f"{v['value']:.2f}x"
            state = {True: "[green]met[/green]", False: "[red]not met[/red]"}.get(
                v["met"], "not measured"
            )
            console.print(f"target {v['target']}: {value} {state}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out: dict[str, Any] = {
        "machine": results.machine(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "results": [],
        "interrupted": False,
    }
    code = 0
    notes = (
        "stopping: ending the step, writing what was measured ({signal} again to abandon it)",
        "abandoning the step; still stopping the nodes",
    )
    with (
        stop_on_signals(StopRequest(notes)) as stop,
        tempfile.TemporaryDirectory(prefix="aspen-bench-") as tmp,
    ):
        try:
            with event_loop_runner(args.no_uvloop) as runner:
                runner.run(_measure(args, Path(tmp), out, stop))
        except Exception as e:
            out["error"] = f"{type(e).__name__}: {e}"
            print(f"bench failed: {out['error']}", file=sys.stderr)
            code = 2
    out["interrupted"] = stop.first or False
    results.finish(out)
    if args.vs:
        out["ratios"] = ratios(out["results"], args.vs)
        out["targets"] = verdicts(out["ratios"])
        out["targets_met"] = all(v["met"] for v in out["targets"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, out)
    if out["results"]:
        print_table(out)
    print(f"wrote {args.out}")
    return stop.exit_code() if stop.requested and code == 0 else code


if __name__ == "__main__":
    sys.exit(main())
