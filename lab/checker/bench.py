"""Checker speed against the real Porcupine, same files, same run: ``python -m lab.checker.bench``.

Workload classes (each a set of history files):

* ``porcupine_kv``: Porcupine's six kv histories (``shared/data/histories/porcupine-kv``);
* ``jepsen_etcd``: Porcupine's 102 Jepsen etcd register logs (``tests/data/jepsen-etcd``);
* ``lab_runs``: the lab's own recorded runs (``tests/data/runs/*/history.jsonl``);
* ``generated_register``: 1 key, 6 client slots, read/write/cas, 3% unknown (``info``) outcomes;
* ``generated_kv``: 3 keys, read/append/delete, 2% unknown;
* ``aspen_revisions``: Aspen-shaped, 20,000 operations, 5 keys, 16 slots, 1% unknown, every
  ok operation with its revision (`lab.checker.revisions`; Porcupine gets them without);
* ``large``: a generated 100,000-operation kv history (100 keys, 32 slots, 1% unknown), target
  10 s, with peak RSS (and parallel workers);
* ``revisions_1m``: a 1,000,000-operation Aspen-shaped history with revisions (5 keys, 16
  slots, 1% unknown), checked in one process, target 10 s.

When Go is there the Porcupine oracle (`lab.checker.oracle`) checks the same files and the
summary prints, per class, our check time, Porcupine's, and the ratio (target: at most 2x),
plus any file where both decide and disagree. Times exclude start-up and parsing (reported
apart): each history is parsed once, then checked ``--repeat`` times, and the best run counts,
as Go's benchmark harness does. Verdict-only runs (``explain=False``, like Porcupine's
``CheckEvents``) are the comparison; the cost of shrinking counterexamples is reported next to
them. Both wall and CPU time are written, because other processes on a shared machine inflate
wall time.
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
from lab.checker.oracle import OracleUnavailable, find_oracle, run_oracle
from lab.checker.registers import KVModel
from lab.checker.result import Verdict
from lab.history.formats import read_history
from lab.history.jsonl import op_to_dict
from lab.history.op import Operation
from lab.history.pairing import pair
from lab.history.simulate import random_plan, simulate, simulate_operations

ROOT: Final = Path(__file__).resolve().parents[2]
KV_DIR: Final = ROOT.parent / "shared/data/histories/porcupine-kv"
ETCD_DIR: Final = ROOT / "tests/data/jepsen-etcd"
RUNS_DIR: Final = ROOT / "tests/data/runs"
LARGE_TARGET_S: Final = 10.0
RATIO_TARGET: Final = 2.0
GENERATED: Final = {
    "generated_register": dict(n_ops=1000, n_keys=1, n_slots=6, unknown=0.03),
    "generated_kv": dict(
        n_ops=1500, n_keys=3, n_slots=6, unknown=0.02, fs=("read", "append", "delete")
    ),
    "aspen_revisions": dict(n_ops=20_000, n_keys=5, n_slots=16, unknown=0.01),
}
"""Generated classes: `random_plan` arguments (seeds 1..``--seeds``)."""
REVISIONED: Final = frozenset({"aspen_revisions"})
"""Generated classes whose histories carry revisions, as Aspen's do."""


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


def _label(path: Path) -> str:
    """A history's name in reports: the file's, or its run directory's for a run."""
    return path.parent.name if path.name == "history.jsonl" else path.name


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
        want = expected.get(_label(path))
        rows.append(
            {
                "file": _label(path),
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


def bench_revisions(n_ops: int, seed: int, timeout: float) -> dict[str, Any]:
    """Generate an Aspen-shaped history with revisions (as operations: a million do not fit
    twice in memory as events) and check it in one process."""
    t0 = time.perf_counter()
    plan = random_plan(random.Random(seed), n_ops, n_keys=5, n_slots=16, unknown=0.01)
    ops = simulate_operations(plan, revisions=True)
    del plan
    gen_s = time.perf_counter() - t0
    one = _timed_check(KVModel(), ops, 1, timeout=timeout, workers=1, explain=False)
    return {
        "ops": n_ops, "keys": 5, "client_slots": 16, "unknown_rate": 0.01, "seed": seed,
        "with_revision": sum(op.revision is not None for op in ops),
        "generate_s": round(gen_s, 3),
        "one_process": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in one.items()},
    }  # fmt: skip


def generate(name: str, seed: int, out_dir: Path) -> Path:
    """Write the generated history of class ``name`` for ``seed`` as JSONL; its path."""
    plan = random_plan(random.Random(seed), **GENERATED[name])  # type: ignore[arg-type]
    path = out_dir / f"{name}-{seed}.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for op in simulate(plan, revisions=name in REVISIONED):
            fh.write(json.dumps(op_to_dict(op)) + "\n")
    return path


def workloads(
    args: argparse.Namespace, gen_dir: Path
) -> dict[str, tuple[list[Path], dict[str, bool]]]:
    """Each class: (files, expected verdicts by file name, valid=True)."""
    out: dict[str, tuple[list[Path], dict[str, bool]]] = {}
    kv = sorted(args.kv_dir.glob("c*.txt")) if args.kv_dir.is_dir() else []
    out["porcupine_kv"] = (kv, {p.name: p.stem.endswith("-ok") for p in kv})
    etcd = sorted(args.etcd_dir.glob("etcd_*.log")) if args.etcd_dir.is_dir() else []
    verdicts = args.etcd_dir / "verdicts.json"
    out["jepsen_etcd"] = (etcd, json.loads(verdicts.read_text()) if verdicts.exists() else {})
    runs = sorted(args.runs_dir.glob("*/history.jsonl")) if args.runs_dir.is_dir() else []
    out["lab_runs"] = (runs, {_label(p): not p.parent.name.endswith("-invalid") for p in runs})
    gen_dir.mkdir(parents=True, exist_ok=True)
    for name in GENERATED:
        files = [generate(name, seed, gen_dir) for seed in range(1, args.seeds + 1)]
        out[name] = (files, {p.name: True for p in files})  # valid by construction
    return out


def compare_with_oracle(
    binary: Path, files: Sequence[Path], ours: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Porcupine on the same files: its total check time, the ratio, disagreements."""
    answers = run_oracle(binary, files, timeout_s=timeout)
    ms = sum(a.ms for a in answers)
    disagree = []
    for row, a in zip(ours["per_file"], answers, strict=True):
        mine = row["verdict"]
        theirs = {"Ok": "valid", "Illegal": "invalid"}.get(a.verdict)
        if theirs is not None and mine != str(Verdict.UNKNOWN) and mine != theirs:
            disagree.append({"file": row["file"], "ours": mine, "porcupine": a.verdict})
        row["porcupine_ms"] = a.ms
        row["porcupine"] = a.verdict
    return {
        "porcupine_check_ms": round(ms, 2),
        "ratio": round(ours["check_wall_s"] * 1000 / ms, 2) if ms > 0 else None,
        "porcupine_unknown": sum(a.verdict == "Unknown" for a in answers),
        "porcupine_error": sum(a.verdict == "Error" for a in answers),
        "disagreements": disagree,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print a summary, write JSON; exit 1 if a verdict is wrong."""
    parser = argparse.ArgumentParser(prog="python -m lab.checker.bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench-results/checker.json"))
    parser.add_argument("--repeat", type=int, default=5, help="runs per history (best counts)")
    parser.add_argument("--timeout", type=float, default=60.0, help="budget per check (s)")
    parser.add_argument("--kv-dir", type=Path, default=KV_DIR)
    parser.add_argument("--etcd-dir", type=Path, default=ETCD_DIR)
    parser.add_argument("--runs-dir", type=Path, default=RUNS_DIR)
    parser.add_argument("--seeds", type=int, default=5, help="histories per generated class")
    parser.add_argument("--large-ops", type=int, default=100_000)
    parser.add_argument("--large-keys", type=int, default=100)
    parser.add_argument("--large-slots", type=int, default=32)
    parser.add_argument("--large-unknown", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--revisions-ops", type=int, default=1_000_000)
    parser.add_argument("--skip-revisions", action="store_true")
    parser.add_argument("--no-oracle", action="store_true", help="do not run Porcupine")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "cpus": os.cpu_count(),
            "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "targets": {"ratio_to_porcupine": RATIO_TARGET, "large_s": LARGE_TARGET_S},
    }
    binary: Path | None = None
    if not args.no_oracle:
        try:
            binary = find_oracle()
            report["oracle"] = str(binary)
        except OracleUnavailable as exc:
            report["oracle"] = f"unavailable: {exc}"
    ok = True
    classes = workloads(args, args.out.parent / "checker-histories")
    for name, (files, expected) in classes.items():
        if not files:
            report[name] = {"skipped": "no histories"}
            continue
        result = bench_corpus(files, expected, args.repeat, args.timeout)
        if binary is not None:
            result["porcupine"] = compare_with_oracle(binary, files, result, args.timeout)
            ok &= not result["porcupine"]["disagreements"]
        report[name] = result
        ok &= result["verdicts_matching_expected"] == result["verdicts_expected"]
    if not args.skip_large:
        report["large"] = bench_large(
            args.large_ops, args.large_keys, args.large_slots, args.large_unknown,
            args.seed, args.timeout,
        )  # fmt: skip
    if not args.skip_revisions:
        report["revisions_1m"] = bench_revisions(args.revisions_ops, args.seed, args.timeout)
    report["peak_rss_mb"] = _peak_rss_mb()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(_summary(report, list(classes)))
    print(f"written to {args.out}")
    return 0 if ok else 1


def _summary(r: dict[str, Any], classes: list[str]) -> str:
    lines = [
        f"checker bench on {r['machine']['cpus']} CPUs, load "
        f"{r['machine']['load_avg_1m_at_start']}; Porcupine oracle: {r.get('oracle', 'not run')}",
        f"  {'class':<20} {'files':>5} {'ops':>7} {'ours ms':>9} {'porcupine ms':>12} "
        f"{'ratio':>7}  verdicts",
    ]
    for name in classes:
        s = r.get(name, {})
        if "skipped" in s:
            lines.append(f"  {name:<20} skipped ({s['skipped']})")
            continue
        p = s.get("porcupine")
        theirs = f"{p['porcupine_check_ms']:>12.1f}" if p else f"{'-':>12}"
        ratio = f"{p['ratio']:>6.2f}x" if p and p["ratio"] is not None else f"{'-':>7}"
        verdicts = f"{s['verdicts_matching_expected']}/{s['verdicts_expected']} as expected"
        if p:
            verdicts += (
                f", {len(p['disagreements'])} disagreements with Porcupine"
                f" ({p['porcupine_unknown']} Porcupine timeouts)"
            )
        lines.append(
            f"  {name:<20} {s['files']:>5} {s['ops']:>7} {s['check_wall_s'] * 1000:>9.1f} "
            f"{theirs} {ratio}  {verdicts}"
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
    if "revisions_1m" in r:
        s = r["revisions_1m"]
        one = s["one_process"]
        lines.append(
            f"  Aspen-shaped with revisions, {s['ops']} ops / {s['keys']} keys / "
            f"{s['unknown_rate']:.0%} unknown: {one['verdict']} in {one['wall_s']:.2f}s wall "
            f"({one['cpu_s']:.2f}s cpu) in one process (target {r['targets']['large_s']:.0f}s)"
        )
    lines.append(f"  peak RSS {r['peak_rss_mb']} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
