"""A soak's ``report.html``: one self-contained page (inline SVG and CSS, no CDN; one small
script only measures the laid-out fault-lane numbers, as the run report's does).

Top to bottom: the soak's status and its two verdicts (windows, leaks); headline numbers; the
leak checks with the numbers they were judged on; resource timelines over the whole soak (RSS
with its fitted slopes, fds, threads, data directory, CPU; the faults shaded and numbered,
with a key under each plot); latency and throughput per window;
the windows table (verdict, operations, throughput, p99, recovery, each linked to its
directory or report); the parameters and the command to rerun; errors; files.

Everything comes from the soak directory: ``results.json`` for numbers and verdicts,
``resources.jsonl`` for the timelines, so the page can be redrawn at any time. Sizes are
binary throughout (MiB, MiB/hour); checks in a results.json written before that (MB/hour) are
converted as the page draws them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

import jinja2

from lab.report.templating import (
    fmt_bytes,
    fmt_count,
    fmt_ms,
    fmt_rate,
    fmt_seconds,
    page_scripts,
    write_atomic,
)
from lab.soak.leaks import Check
from lab.soak.plan import format_duration
from lab.soak.plots import render_plots
from lab.soak.resources import ResourceSeries

REPORT_NAME: Final = "report.html"
TEMPLATE: Final = "report.html.j2"
CHECK_PLOTS: Final = {
    "rss_slope": "plot-rss",
    "fd_growth": "plot-fds",
    "thread_growth": "plot-threads",
    "data_dir_growth": "plot-data",
    "data_dir_size": "plot-data",
    "data_dir_ratio": "plot-data",
    "p99_drift": "plot-windows",
}


def _binary(check: dict[str, Any]) -> dict[str, Any]:
    """A check as the page shows it: an older results.json's MB/hour converted to MiB/hour."""
    if check.get("unit") != "MB/hour":
        return check
    to_mib = 1e6 / (1 << 20)
    return {
        **check,
        "value": check["value"] * to_mib,
        "threshold": check["threshold"] * to_mib,
        "unit": "MiB/hour",
    }


def _result(check: dict[str, Any]) -> str:
    """A check's result as `Check.result` says it (results.json before it said so: derived)."""
    if check.get("result"):
        return str(check["result"])
    fields = {k: check[k] for k in ("name", "node", "value", "threshold", "passed", "unit")}
    return Check(**fields, detail=str(check.get("detail", ""))).result


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_count, rate=fmt_rate, ms=fmt_ms, seconds=fmt_seconds)
    env.filters.update(size=fmt_bytes, value=fmt_value)
    return env


def fmt_value(value: Any, unit: str) -> str:
    """A check's number with its unit: ``12.3 MiB/hour``, ``1.2 x``, ``3.1 MiB``."""
    if unit == "bytes":
        return fmt_bytes(value)
    x = float(value)
    text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" if x else "0"
    return f"{text} {unit}"


def soak_status(results: dict[str, Any]) -> str:
    """``running``, ``valid``, ``invalid``, ``interrupted`` (what ran was fine) or ``unknown``."""
    if results.get("running"):
        return "running"
    verdicts = set((results.get("verdicts") or {}).values())
    if "invalid" in verdicts or (results.get("errors") and not results.get("interrupted")):
        return "invalid"
    if results.get("interrupted"):
        return "interrupted"
    if "unknown" in verdicts or not verdicts:
        return "unknown"
    return "valid" if results.get("valid") else "invalid"


def write_soak_report(soak_dir: Path) -> Path:
    """Write ``soak_dir/report.html`` from its ``results.json`` and ``resources.jsonl``."""
    started = time.perf_counter()
    soak_dir = Path(soak_dir)
    results = json.loads((soak_dir / "results.json").read_text(encoding="utf-8"))
    series = ResourceSeries.load(soak_dir / "resources.jsonl")
    context = build_context(soak_dir, results, series)
    context["render_seconds"] = time.perf_counter() - started
    context.update(page_scripts())
    html = environment().get_template(TEMPLATE).render(context)
    out = soak_dir / REPORT_NAME
    write_atomic(out, html)
    return out


def build_context(
    soak_dir: Path, results: dict[str, Any], series: ResourceSeries
) -> dict[str, Any]:
    config = results.get("config") or {}
    windows = results.get("windows") or []
    leaks = results.get("leaks") or {}
    checks = [
        {**_binary(c), "plot": CHECK_PLOTS.get(c["name"], ""), "result": _result(c)}
        for c in leaks.get("checks") or []
    ]
    ops = (results.get("ops") or {}).get("total") or {}
    restarts = sum(int(r.get("restarts") or 0) for r in (results.get("resources") or {}).values())
    duration = float(results.get("duration") or 0.0)
    status = soak_status(results)
    return {
        "title": f"Soak {config.get('scenario', '')} {format_duration(duration)}"
        f", seed {results.get('seed')}",
        "status": status,
        "verdicts": list((results.get("verdicts") or {}).items()),
        "cards": [
            (
                "workload",
                f"{fmt_seconds(sum(w['length_s'] for w in windows))} of {fmt_seconds(duration)}",
            ),
            ("wall time", fmt_seconds(results.get("elapsed_s"))),
            (
                "windows",
                f"{sum(1 for w in windows if w['status'] == 'valid')} valid of "
                f"{len(windows)} checked, {results.get('windows_planned')} planned",
            ),
            ("ok operations", fmt_count(ops.get("ok"))),
            ("throughput", f"{fmt_rate((results.get('throughput') or {}).get('ok_per_s'))} ok/s"),
            ("p99 (ok)", fmt_ms(((results.get("latency_ms") or {}).get("ok") or {}).get("p99"))),
            ("max recovery", fmt_seconds(results.get("recovery_seconds"))),
            ("node restarts", fmt_count(restarts)),
        ],
        "checks": checks,
        "failed_checks": [c for c in checks if not c["passed"]],
        "leaks": leaks,
        "plots": render_plots(series, results),
        "windows": [_window_row(soak_dir, w) for w in windows],
        "failed_windows": [w["index"] for w in windows if w["status"] != "valid"],
        "params": _params(config),
        "rerun": results.get("rerun") or config.get("rerun") or "",
        "errors": results.get("errors") or [],
        "resources": results.get("resources") or {},
        "files": _files(soak_dir),
        "results": results,
    }


def _window_row(soak_dir: Path, w: dict[str, Any]) -> dict[str, Any]:
    wdir = soak_dir / w["dir"]
    report = w.get("report")
    link = report if report and (soak_dir / report).is_file() else None
    if link is None and (wdir / "report.html").is_file():
        link = f"{w['dir']}/report.html"
    return {
        **w,
        "fault_text": ", ".join(f["fault"] for f in w.get("faults") or []) or "none",
        "link": link or f"{w['dir']}/",
        "has_report": link is not None,
    }


def _params(config: dict[str, Any]) -> list[tuple[str, str]]:
    keys = (
        "scenario", "duration", "window", "seed", "nodes", "rate", "concurrency", "keys",
        "runtime", "faults", "warmup_s", "restart_warmup", "sample_interval", "window_reports",
        "run_id",
    )  # fmt: skip
    out = []
    for k in keys:
        if k not in config:
            continue
        v = config[k]
        if k in ("duration", "window") and isinstance(v, int | float):
            v = format_duration(float(v))
        out.append((k, ", ".join(map(str, v)) if isinstance(v, list) else str(v)))
    return out


def _files(soak_dir: Path) -> list[tuple[str, str]]:
    names = ["config.json", "results.json", "resources.jsonl", "lab.log", "nodes/", "windows/"]
    return [(n, n) for n in names if (soak_dir / n.rstrip("/")).exists()]
