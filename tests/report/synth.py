"""Synthetic run directories, for what the two recorded fixtures do not cover: huge histories,
crashed nodes, faults that never stopped, error logs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import msgspec

from lab.history.op import COMPARE_FAILED, OUTCOMES

NS = 1_000_000_000
STARTUP_NS = 3 * NS
"""The recorder's clock starts this long before the workload (forming the cluster)."""


def make_run(
    run_dir: Path,
    *,
    ops: int = 600,
    duration: float = 10.0,
    seed: int = 7,
    faults: tuple[tuple[str, float, float | None], ...] = (("partition-halves", 2.0, 5.0),),
    down: tuple[str, float, float] | None = ("n2", 3.0, 5.0),
    log_lines: dict[str, list[str]] | None = None,
    results: dict[str, Any] | None = None,
) -> Path:
    """Write a complete run directory; ``faults``: (name, start s, end s or None)."""
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    enc = msgspec.json.Encoder()
    counts: dict[str, dict[str, int]] = {}
    events: list[bytes] = []
    index = 0
    concurrency = 16
    free_at = [0] * concurrency
    process = list(range(concurrency))
    step = int(duration * NS / max(ops, 1))
    for i in range(ops):
        slot = i % concurrency
        proc = process[slot]
        start = max(free_at[slot], i * step) + STARTUP_NS
        f = rng.choice(("read", "write", "cas"))
        outcome = rng.choices(("ok", "fail", "info"), weights=(85, 12, 3))[0]
        if f == "cas" and outcome == "fail":
            outcome = "compare_failed"  # most cas "failures" are compares that failed
        latency = 2 * NS if outcome == "info" else int(rng.lognormvariate(16, 0.6))
        done = "ok" if outcome == "compare_failed" else outcome
        for t, kind in ((start, "invoke"), (start + latency, done)):
            events.append(
                enc.encode(
                    {
                        "index": index,
                        "time": t,
                        "process": proc,
                        "type": kind,
                        "f": f,
                        "key": f"k{i % 5}",
                        "value": (
                            COMPARE_FAILED
                            if kind == "ok" and outcome == "compare_failed"
                            else i
                            if f != "read" or kind != "invoke"
                            else None
                        ),
                        "node": f"n{slot % 3 + 1}",
                        "error": "timeout" if kind == "info" else None,
                    }
                )
            )
            index += 1
        if outcome == "info":  # as the runner does: the slot goes on as a new process
            process[slot] += concurrency
        else:
            free_at[slot] = start + latency - STARTUP_NS
        by_f = counts.setdefault(f, dict.fromkeys(OUTCOMES, 0))
        by_f[outcome] += 1
    nemesis: list[tuple[int, str, dict[str, Any]]] = []
    for name, start_s, end_s in faults:
        nemesis.append(
            (STARTUP_NS + int(start_s * NS), f"start-{name}", {"partition": "[1] | [2 3]"})
        )
        if end_s is not None:
            nemesis.append((STARTUP_NS + int(end_s * NS), f"stop-{name}", {"healed": 2}))
    nem_lines = [
        enc.encode(
            {"index": i, "time": t, "process": "nemesis", "type": "info", "f": f, "value": v}
        )
        for i, (t, f, v) in enumerate(sorted(nemesis))
    ]
    (run_dir / "history.jsonl").write_bytes(b"\n".join(events + nem_lines) + b"\n")
    (run_dir / "nemesis.jsonl").write_bytes(b"\n".join(nem_lines) + (b"\n" if nem_lines else b""))
    res_lines = []
    for sec in range(int(duration) + 1):
        for node in ("n1", "n2", "n3"):
            up = not (down and node == down[0] and down[1] <= sec < down[2])
            row: dict[str, Any] = {"time": STARTUP_NS + sec * NS, "node": node, "up": up}
            if up:
                row |= {
                    "cpu_percent": rng.uniform(5, 30),
                    "rss_bytes": 45_000_000 + sec * 10_000,
                    "open_fds": 12,
                    "threads": 2,
                    "data_bytes": 576 + sec * 1000,
                }
            res_lines.append(json.dumps(row))
    (run_dir / "resources.jsonl").write_text("\n".join(res_lines) + "\n")
    nodes = run_dir / "nodes"
    nodes.mkdir(exist_ok=True)
    for node in ("n1", "n2", "n3"):
        lines = (log_lines or {}).get(node, [f"2026-01-01 00:00:00,000 {node} INFO aspen.node: up"])
        (nodes / f"{node}.log").write_text("\n".join(lines) + "\n")
    (run_dir / "lab.log").write_text("2026-01-01 00:00:00,000 INFO lab: cluster serving\n")
    totals = {o: sum(c[o] for c in counts.values()) for o in OUTCOMES}
    config = {
        "scenario": "synthetic",
        "seed": seed,
        "nodes": 3,
        "duration": duration,
        "runtime": "local",
        "node_options": {"fsync": "always", "stale_reads": False},
        "rerun": f"nox -s chaos -- --scenario synthetic --seed {seed}",
        "run_id": f"synthetic-{seed}",
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    base = {
        "valid": True,
        "verdicts": {"linearizable": "valid", "recovery": "valid"},
        "checkers": {},
        "ops": {"by_f": counts, "total": totals},
        "throughput": {"ok_per_s": totals["ok"] / duration, "all_per_s": ops / duration},
        "latency_ms": {
            "ok": {"count": totals["ok"], "p50": 8.0, "p95": 20.0, "p99": 30.0, "max": 40.0},
            "all": {"count": ops, "p50": 8.0, "p95": 20.0, "p99": 2000.0, "max": 2000.0},
        },
        "recovery_seconds": 0.5,
        "faults": [{"fault": n, "start": s, "end": e, "seed": 1} for n, s, e in faults],
        "errors": [],
        "scenario": "synthetic",
        "seed": seed,
        "duration": duration,
        "wall_seconds": duration + 3,
    }
    (run_dir / "results.json").write_text(json.dumps(base | (results or {})))
    return run_dir
