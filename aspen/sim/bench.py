"""Benchmark of the simulator driving the real core: Raft messages and committed ops per second.

Not a test: numbers depend on the machine. Fault-free cluster, small network delay, many
concurrent clients writing (so each tick batches many proposals into each AppendEntries).
Wall-clock time is measured here and only here; the simulation itself never reads a clock.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import time
from io import StringIO
from typing import Any

from aspen.raft import RaftConfig
from aspen.sim.client import ClientConfig
from aspen.sim.cluster import Cluster, SimConfig
from aspen.sim.network import NetConfig
from aspen.sim.run import relaxed_gc
from aspen.sim.scheduler import NS_PER_MS

TARGET_MSGS_PER_S = 100_000
TARGET_OPS_PER_S = 20_000


def bench_config(nodes: int, clients: int) -> SimConfig:
    return SimConfig(
        seed=1,
        nodes=nodes,
        tick_ms=10,
        raft=RaftConfig(id=1),
        net=NetConfig(min_delay_ns=200_000, mean_jitter_ns=100_000),
        clients=ClientConfig(
            clients=clients,
            keys=64,
            timeout_ns=10_000 * NS_PER_MS,
            think_ns=0,
            mix=(0.0, 1.0, 0.0),
        ),
        snapshot_every=5000,
        keep_entries=500,
    )


def bench_one(nodes: int, virtual_ms: int, clients: int) -> dict[str, Any]:
    """Run a fault-free cluster; measure only the part after a leader is elected."""
    with relaxed_gc():
        return _bench_one(nodes, virtual_ms, clients)


def _bench_one(nodes: int, virtual_ms: int, clients: int) -> dict[str, Any]:
    cluster = Cluster(bench_config(nodes, clients))
    cluster.run_for(1000 * NS_PER_MS)  # elect a leader
    if cluster.leader() is None:
        raise RuntimeError("no leader elected before the benchmark")
    cluster.clients.start()
    cluster.run_for(100 * NS_PER_MS)  # warm up: hints point at the leader
    delivered0 = cluster.net.stats.delivered
    ok0 = cluster.clients.stats.ok
    events0 = cluster.sched.processed
    t0, c0 = time.perf_counter(), time.process_time()
    cluster.run_for(virtual_ms * NS_PER_MS)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    messages = cluster.net.stats.delivered - delivered0
    ops = cluster.clients.stats.ok - ok0
    return {
        "nodes": nodes,
        "clients": clients,
        "virtual_ms": virtual_ms,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "messages": messages,
        "committed_ops": ops,
        "events": cluster.sched.processed - events0,
        "messages_per_s": round(messages / wall),
        "committed_ops_per_s": round(ops / wall),
        "messages_per_cpu_s": round(messages / cpu),
        "committed_ops_per_cpu_s": round(ops / cpu),
        "entries_per_append": round(
            cluster.entries_delivered / max(cluster.delivered_by_type.get("AppendEntries", 0), 1), 1
        ),
        "commit_index": cluster.inv.max_committed,
    }


def profile_one(nodes: int, virtual_ms: int, clients: int, top: int = 25) -> str:
    """cProfile of one benchmark run, top functions by internal time."""
    prof = cProfile.Profile()
    prof.enable()
    bench_one(nodes, virtual_ms, clients)
    prof.disable()
    out = StringIO()
    stats = pstats.Stats(prof, stream=out)
    out.write(share_by_package(stats) + "\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def share_by_package(stats: pstats.Stats) -> str:
    """Internal time summed by where the code lives: the core, the simulator, the KV, the rest."""
    totals: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, tottime, _, _) in raw.items():
        path = filename.replace(os.sep, "/")
        group = next(
            (g for g in ("aspen/raft", "aspen/sim", "aspen/kv") if f"/{g}/" in path), "other"
        )
        totals[group] = totals.get(group, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    parts = [f"{g} {t / whole:.0%}" for g, t in sorted(totals.items(), key=lambda kv: -kv[1])]
    return "internal time by package: " + ", ".join(parts)


def _judge(name: str, row: dict[str, Any], metric: str, least: int) -> dict[str, Any]:
    """One target of issue #19 (CPU time, so a busy machine does not fail it)."""
    value = row[metric]
    return {"target": name, "metric": metric, "least": least, "value": value, "met": value >= least}


def main(out_path: str, virtual_ms: int, clients: int, profile: bool) -> int:
    """Batched runs (``clients`` writers) for 3 and 5 nodes, plus a 4-client run per size in
    which each AppendEntries carries about one entry (what per-message cost looks like)."""
    batched = [bench_one(n, virtual_ms, clients) for n in (3, 5)]
    unbatched = [bench_one(n, virtual_ms * 4, 4) for n in (3, 5)]
    targets = [
        _judge("messages per CPU-second, 3 nodes, unbatched", unbatched[0], "messages_per_cpu_s",
               TARGET_MSGS_PER_S),
        _judge("committed ops per CPU-second, 3 nodes, batched", batched[0],
               "committed_ops_per_cpu_s", TARGET_OPS_PER_S),
    ]  # fmt: skip
    report: dict[str, Any] = {
        "benchmark": "aspen.sim",
        "targets": targets,
        "targets_met": all(t["met"] for t in targets),
        "batched": batched,
        "unbatched": unbatched,
    }
    for label, rows in (("batched", batched), ("unbatched", unbatched)):
        for r in rows:
            print(
                f"{label:>9} {r['nodes']} nodes, {r['clients']:>3} clients: "
                f"{r['messages_per_s']:>8,} msgs/s {r['committed_ops_per_s']:>7,} ops/s wall; "
                f"{r['messages_per_cpu_s']:>8,} msgs/s {r['committed_ops_per_cpu_s']:>7,} ops/s "
                f"CPU; {r['entries_per_append']} entries/AppendEntries ({r['messages']:,} msgs, "
                f"{r['committed_ops']:,} ops, {r['wall_s']} s wall, {r['cpu_s']} s CPU)"
            )
    for t in targets:
        print(
            f"target {t['target']} >= {t['least']:,}: {t['value']:,} "
            + ("met" if t["met"] else "NOT met")
        )
    if profile:
        for label, n_clients, ms in (
            ("batched", clients, virtual_ms),
            ("unbatched", 4, 4 * virtual_ms),
        ):
            text = profile_one(3, ms, n_clients)
            report[f"profile_3_nodes_{label}"] = text
            print(f"--- cProfile, 3 nodes, {label} ---")
            print(text)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {out_path}")
    return 0
