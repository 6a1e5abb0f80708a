"""``python -m aspen.sim``: replay one seeded simulation, or benchmark the simulator.

    python -m aspen.sim --seed 7 --steps 3000 --nodes 5 --faults partition,crash \
        --history out.jsonl --trace out.txt
    python -m aspen.sim --seeds 1-10000 [--jobs N] [--steps M]   # all cores, then a summary
    python -m aspen.sim --bench [--bench-out bench-results/sim.json] [--profile]

Exit status: 0 if the run was safe (and live, when the run is long enough to tell), 1 if an
invariant failed or the cluster did not recover after the heal.
"""

from __future__ import annotations

import argparse
import sys

from aspen.sim.nemesis import FAULTS, parse_faults


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m aspen.sim", description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=3000, help="ticks of virtual time (10 ms each)")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument(
        "--faults",
        default="all",
        help=f"'all', 'none' or a comma list of: {', '.join(FAULTS)}",
    )
    p.add_argument(
        "--seeds",
        metavar="A-B",
        help="run every seed in A..B (inclusive) across --jobs processes, print each failure "
        "with its replay command and a summary; exit 1 if any fails",
    )
    p.add_argument("--jobs", type=int, default=None, help="with --seeds: processes (all cores)")
    p.add_argument("--history", metavar="PATH", help="write the client history (JSONL)")
    p.add_argument("--trace", metavar="PATH", help="write the trace (text)")
    p.add_argument(
        "--trace-messages", action="store_true", help="trace every delivered message (slow)"
    )
    p.add_argument("--bench", action="store_true", help="run the benchmark instead")
    p.add_argument("--bench-out", default="bench-results/sim.json")
    p.add_argument("--bench-ms", type=int, default=300, help="virtual ms measured per batched run")
    p.add_argument("--bench-clients", type=int, default=256)
    p.add_argument("--profile", action="store_true", help="with --bench: cProfile the 3-node run")
    args = p.parse_args(argv)
    try:
        parse_faults(args.faults)
    except ValueError as e:
        p.error(str(e))
    if args.nodes < 1:
        p.error("--nodes must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bench:
        from aspen.sim.bench import main as bench_main

        return bench_main(args.bench_out, args.bench_ms, args.bench_clients, args.profile)

    if args.seeds:
        from aspen.sim.explore import explore, parse_seeds

        total = explore(parse_seeds(args.seeds), args.steps, args.nodes, args.faults, args.jobs)
        return 1 if total.failures else 0

    from aspen.sim.run import run, summary

    result = run(
        args.seed,
        args.steps,
        args.nodes,
        args.faults,
        trace_keep=args.trace is not None,
        trace_messages=args.trace_messages,
    )
    if args.history:
        with open(args.history, "w", encoding="utf-8") as f:
            f.write(result.history_jsonl)
    if args.trace:
        with open(args.trace, "w", encoding="utf-8") as f:
            f.writelines(result.trace_lines)
    print(summary(result))
    if args.history:
        print(f"  history: {args.history}")
    if args.trace:
        print(f"  trace: {args.trace}")
    failed = result.violation is not None or (result.liveness_checked and not result.live)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
