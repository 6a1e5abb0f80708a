"""Checker speed and memory: ``python -m lab.checker.bench [--out PATH] [--repeat N] ...``.

Three workloads, each compared with a target:

* Porcupine's six kv histories (``shared/data/histories/porcupine-kv``): Porcupine (Go) checks
  them in about 0.2 s on this 2-core machine; target 2x that, in one process.
* Porcupine's Jepsen etcd register corpus (``tests/data/jepsen-etcd``, jepsen.util logs):
  Porcupine takes about 0.4 s for all 102; target 2x that.
* A generated 100,000-operation kv history (100 keys, 32 client slots, 1% unknown outcomes):
  target 10 s, with peak RSS reported.

Times exclude start-up and parsing (reported apart): each history is parsed once, then checked
``--repeat`` times, and the best run counts, as Go's benchmark harness does. Verdict-only runs
(``explain=False``, like Porcupine's ``CheckEvents``) are the comparison; the cost of shrinking
counterexamples is reported next to them. Both wall and CPU time are written, because other
processes on a shared machine inflate wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from lab.checker.check import HANDOFF_S, check
from lab.checker.models import model_for
from lab.checker.registers import KVModel
from lab.checker.result import Verdict
from lab.history.formats import read_history
from lab.history.op import Operation
from lab.history.pairing import pair
from lab.history.simulate import random_plan, simulate

ROOT: Final = Path(__file__).resolve().parents[2]
KV_DIR: Final = ROOT.parent / "shared/data/histories/porcupine-kv"
ETCD_DIR: Final = ROOT / "tests/data/jepsen-etcd"
PORCUPINE_KV_S: Final = 0.2
PORCUPINE_ETCD_S: Final = 0.4
LARGE_TARGET_S: Final = 10.0


def _peak_rss_mb() -> float:
    # Linux reports kilobytes, macOS bytes.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _timed_check(model: Any, ops: list[Operation], repeat: int, **kw: Any) -> dict[str, Any]:
    best_wall = best_cpu = float("inf")
    verdict = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = check(model, ops, **kw)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        verdict = result.verdict
    return {"verdict": str(verdict), "wall_s": best_wall, "cpu_s": best_cpu}


def bench_corpus(
    files: Sequence[Path], expected: dict[str, bool], repeat: int, timeout: float
) -> dict[str, Any]:
    """Check each file verdict-only (best of ``repeat``) and once with explanations."""
    rows = []
    parse_s = 0.0
    for path in files:
        t0 = time.perf_counter()
        history = read_history(path)
        ops = history.operations()
        parse_s += time.perf_counter() - t0
        model = model_for(None, history)
        fast = _timed_check(model, ops, repeat, timeout=timeout, explain=False, workers=1)
        full = _timed_check(model, ops, 1, timeout=timeout, explain=True, workers=1)
        want = expected.get(path.name)
        rows.append(
            {
                "file": path.name,
                "ops": len(ops),
                "verdict": fast["verdict"],
                "expected": None if want is None else ("valid" if want else "invalid"),
                "wall_s": round(fast["wall_s"], 5),
                "cpu_s": round(fast["cpu_s"], 5),
                "explain_wall_s": round(full["wall_s"], 5),
            }
        )
    agree = sum(r["expected"] == r["verdict"] for r in rows if r["expected"] is not None)
    return {
        "files": len(rows),
        "ops": sum(r["ops"] for r in rows),
        "parse_s": round(parse_s, 4),
        "check_wall_s": round(sum(r["wall_s"] for r in rows), 4),
        "check_cpu_s": round(sum(r["cpu_s"] for r in rows), 4),
        "with_explanations_wall_s": round(sum(r["explain_wall_s"] for r in rows), 4),
        "verdicts_matching_expected": agree,
        "verdicts_expected": sum(r["expected"] is not None for r in rows),
        "unknown": sum(r["verdict"] == str(Verdict.UNKNOWN) for r in rows),
        "slowest": sorted(rows, key=lambda r: -r["wall_s"])[:5],
        "per_file": rows,
    }


def bench_large(
    n_ops: int, n_keys: int, n_slots: int, unknown: float, seed: int, timeout: float
) -> dict[str, Any]:
    """Generate a linearizable history, then check it in one process and with workers."""
    t0 = time.perf_counter()
    events = simulate(
        random_plan(random.Random(seed), n_ops, n_keys=n_keys, n_slots=n_slots, unknown=unknown)
    )
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    paired = pair(events)
    pair_s = time.perf_counter() - t0
    out: dict[str, Any] = {
        "ops": n_ops,
        "keys": n_keys,
        "client_slots": n_slots,
        "unknown_rate": unknown,
        "seed": seed,
        "generate_s": round(gen_s, 3),
        "pair_s": round(pair_s, 3),
    }
    one = _timed_check(KVModel(), paired, 1, timeout=timeout, workers=1)
    out["one_process"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in one.items()}
    out["peak_rss_mb_after_one_process"] = _peak_rss_mb()
    workers = os.cpu_count() or 1
    if workers > 1:
        par = _timed_check(KVModel(), paired, 1, timeout=timeout, workers=workers)
        out["parallel"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in par.items()}
        out["parallel"]["workers"] = workers
        auto = _timed_check(KVModel(), paired, 1, timeout=timeout, workers=None)
        out["default"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in auto.items()}
        out["default"]["workers"] = f"auto (hand-off after {HANDOFF_S:g}s)"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print a summary, write JSON; exit 1 if a verdict is wrong."""
    parser = argparse.ArgumentParser(prog="python -m lab.checker.bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench-results/checker.json"))
    parser.add_argument("--repeat", type=int, default=5, help="runs per history (best counts)")
    parser.add_argument("--timeout", type=float, default=60.0, help="budget per check (s)")
    parser.add_argument("--kv-dir", type=Path, default=KV_DIR)
    parser.add_argument("--etcd-dir", type=Path, default=ETCD_DIR)
    parser.add_argument("--large-ops", type=int, default=100_000)
    parser.add_argument("--large-keys", type=int, default=100)
    parser.add_argument("--large-slots", type=int, default=32)
    parser.add_argument("--large-unknown", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "cpus": os.cpu_count(),
            "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "targets": {
            "porcupine_kv_s": 2 * PORCUPINE_KV_S,
            "jepsen_etcd_s": 2 * PORCUPINE_ETCD_S,
            "large_s": LARGE_TARGET_S,
        },
    }
    ok = True
    kv_files = sorted(args.kv_dir.glob("c*.txt")) if args.kv_dir.is_dir() else []
    if kv_files:
        expected = {p.name: p.stem.endswith("-ok") for p in kv_files}
        kv = bench_corpus(kv_files, expected, args.repeat, args.timeout)
        kv["porcupine_go_s"] = PORCUPINE_KV_S
        report["porcupine_kv"] = kv
        ok &= kv["verdicts_matching_expected"] == kv["verdicts_expected"]
    else:
        report["porcupine_kv"] = {"skipped": f"no histories in {args.kv_dir}"}
    etcd_files = sorted(args.etcd_dir.glob("etcd_*.log")) if args.etcd_dir.is_dir() else []
    if etcd_files:
        verdicts_path = args.etcd_dir / "verdicts.json"
        expected = json.loads(verdicts_path.read_text()) if verdicts_path.exists() else {}
        etcd = bench_corpus(etcd_files, expected, args.repeat, args.timeout)
        etcd["porcupine_go_s_for_102_files"] = PORCUPINE_ETCD_S
        report["jepsen_etcd"] = etcd
        ok &= etcd["verdicts_matching_expected"] == etcd["verdicts_expected"]
    else:
        report["jepsen_etcd"] = {"skipped": f"no histories in {args.etcd_dir}"}
    if not args.skip_large:
        report["large"] = bench_large(
            args.large_ops, args.large_keys, args.large_slots, args.large_unknown,
            args.seed, args.timeout,
        )  # fmt: skip
    report["peak_rss_mb"] = _peak_rss_mb()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(_summary(report))
    print(f"written to {args.out}")
    return 0 if ok else 1


def _summary(r: dict[str, Any]) -> str:
    lines = [
        f"checker bench on {r['machine']['cpus']} CPUs, load {r['machine']['load_avg_1m_at_start']}"
    ]
    for name, label, target in (
        ("porcupine_kv", "porcupine kv (6 files)", r["targets"]["porcupine_kv_s"]),
        ("jepsen_etcd", "jepsen etcd corpus", r["targets"]["jepsen_etcd_s"]),
    ):
        s = r.get(name, {})
        if "skipped" in s:
            lines.append(f"  {label}: skipped ({s['skipped']})")
            continue
        lines.append(
            f"  {label}: {s['files']} files, {s['ops']} ops: check {s['check_wall_s']:.3f}s wall "
            f"/ {s['check_cpu_s']:.3f}s cpu (target {target:.1f}s); with explanations "
            f"{s['with_explanations_wall_s']:.3f}s; parse {s['parse_s']:.3f}s; verdicts "
            f"{s['verdicts_matching_expected']}/{s['verdicts_expected']} as expected"
        )
    if "large" in r:
        s = r["large"]
        one = s["one_process"]
        line = (
            f"  generated {s['ops']} ops / {s['keys']} keys / {s['client_slots']} slots / "
            f"{s['unknown_rate']:.0%} unknown: {one['verdict']} in {one['wall_s']:.2f}s wall "
            f"({one['cpu_s']:.2f}s cpu) in one process (target {r['targets']['large_s']:.0f}s)"
        )
        if "parallel" in s:
            par = s["parallel"]
            line += f", {par['wall_s']:.2f}s with {par['workers']} workers"
        if "default" in s:
            line += f", {s['default']['wall_s']:.2f}s with the default (serial, then hand-off)"
        lines.append(line)
    lines.append(f"  peak RSS {r['peak_rss_mb']} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
