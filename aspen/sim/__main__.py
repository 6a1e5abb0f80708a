"""``python -m aspen.sim``: replay one seeded simulation, or benchmark the simulator.

    python -m aspen.sim --seed 7 --steps 3000 --nodes 5 --faults partition,crash \
        --history out.jsonl --trace out.txt
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
        help="run every seed in A..B (inclusive) and print one line per seed; exit 1 if any fails",
    )
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

    from aspen.sim.run import run, summary

    if args.seeds:
        lo, _, hi = args.seeds.partition("-")
        failed_seeds = []
        for seed in range(int(lo), int(hi or lo) + 1):
            r = run(seed, args.steps, args.nodes, args.faults)
            bad = r.violation is not None or (r.liveness_checked and not r.live)
            if bad:
                failed_seeds.append(seed)
            verdict = "FAIL" if bad else "ok"
            detail = (r.violation or "").splitlines()[0] if r.violation else ""
            print(
                f"seed {seed}: {verdict} commit {r.commit_index} leaders "
                f"{r.cluster.leaders_elected} faults {r.faults_injected} messages {r.net.sent} "
                f"{detail}",
                flush=True,
            )
            if bad:
                print(f"  replay: {r.replay}", flush=True)
        print(f"{len(failed_seeds)} failing seed(s): {failed_seeds}")
        return 1 if failed_seeds else 0

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
