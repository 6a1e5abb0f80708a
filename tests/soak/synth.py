"""Synthetic soaks: window results and resource rows with known numbers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lab.soak.leaks import Thresholds
from lab.soak.resources import ResourceSeries
from lab.soak.results import assemble
from lab.soak.window import WindowResult, encode_hdr
from lab.stats import histogram
from lab.store import write_json

MIB = float(1 << 20)

CONFIG: dict[str, Any] = {
    "scenario": "mixed",
    "seed": 7,
    "nodes": 3,
    "duration": 600.0,
    "window": 60.0,
    "rate": 100.0,
    "rerun": "nox -s soak -- --duration 10m --seed 7",
}


def hdr(ms: float, n: int = 1000) -> str:
    """An encoded histogram of ``n`` operations that all took ``ms``."""
    h = histogram(())
    h.record_value(int(ms * 1000), n)
    return encode_hdr(h)


def window(
    index: int,
    *,
    length_s: float = 60.0,
    start_s: float | None = None,
    p99_ms: float = 20.0,
    steady_p99_ms: float = 12.0,
    verdicts: dict[str, str] | None = None,
    errors: Sequence[str] = (),
    interrupted: bool = False,
    ok: int = 5000,
    faults: Sequence[dict[str, Any]] | None = None,
) -> WindowResult:
    verdicts = verdicts or {"linearizable": "valid", "recovery": "valid"}
    valid = all(v == "valid" for v in verdicts.values()) and not errors and not interrupted
    return WindowResult(
        index=index,
        dir=f"windows/{index:04d}",
        prefix=f"w{index:04d}-",
        seed=1000 + index,
        start_s=index * length_s if start_s is None else start_s,
        length_s=length_s,
        wall_s=length_s + 1.5,
        faults=[{"fault": "partition-halves", "start": 12.0, "end": 30.0}]
        if faults is None
        else list(faults),
        interrupted=interrupted,
        valid=valid,
        verdicts=verdicts,
        ops={"ok": ok, "fail": 100, "info": 3},
        ok_per_s=ok / length_s,
        p50_ms=5.0,
        p99_ms=p99_ms,
        steady_p99_ms=steady_p99_ms,
        steady_ops=1000,
        recovery_s=0.25 + index / 100,
        live_keys=5,
        live_bytes=90,
        writes=2500,
        errors=list(errors),
        ok_hdr=hdr(p99_ms, ok),
    )


Metric = Callable[[str, float], float]


def resource_rows(
    seconds: float,
    *,
    nodes: Sequence[str] = ("n1", "n2", "n3"),
    step: float = 5.0,
    rss: Metric = lambda _n, _t: 50 * MIB,
    fds: Metric = lambda _n, _t: 25,
    threads: Metric = lambda _n, _t: 6,
    data: Metric = lambda _n, _t: 2 * MIB,
    pid: Callable[[str, float], int | None] = lambda _n, _t: 100,
) -> list[dict[str, Any]]:
    rows = []
    t = 0.0
    while t <= seconds:
        for n in nodes:
            p = pid(n, t)
            row: dict[str, Any] = {"time": int(t * 1e9), "node": n, "up": p is not None}
            if p is not None:
                row.update(
                    rss_bytes=rss(n, t),
                    open_fds=fds(n, t),
                    threads=threads(n, t),
                    data_bytes=data(n, t),
                    cpu_percent=10.0,
                    pid=p,
                )
            rows.append(row)
        t += step
    return rows


def series_of(rows: list[dict[str, Any]]) -> ResourceSeries:
    s = ResourceSeries()
    for r in rows:
        s.add_row(r)
    return s


def results_of(
    windows: Sequence[WindowResult],
    rows: list[dict[str, Any]],
    *,
    warmup_s: float = 60.0,
    **kw: Any,
) -> dict[str, Any]:
    kw.setdefault("planned", len(windows))
    kw.setdefault("elapsed_s", sum(w.wall_s for w in windows))
    return assemble(
        CONFIG,
        windows,
        series_of(rows),
        Thresholds(),
        warmup_s=warmup_s,
        restart_warmup_s=15.0,
        **kw,
    )


def write_soak_dir(
    soak_dir: Path, windows: Sequence[WindowResult], rows: list[dict[str, Any]], **kw: Any
) -> dict[str, Any]:
    """A soak directory as a real soak leaves it (minus the histories)."""
    import json

    soak_dir.mkdir(parents=True, exist_ok=True)
    with open(soak_dir / "resources.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    for w in windows:
        (soak_dir / w.dir).mkdir(parents=True, exist_ok=True)
    results = results_of(windows, rows, **kw)
    write_json(soak_dir / "config.json", CONFIG)
    write_json(soak_dir / "results.json", results)
    return results
