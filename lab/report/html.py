"""``report.html``: one self-contained page that says whether a run passed, and why.

`write_run_report` reads a run directory (see `lab.store`) and writes ``report.html`` next to
the files it came from. The page needs no server and no network: plots are inline SVG; styles
and the small scripts (copy the rerun command; note script errors and plot sizes in DOM
attributes, for headless checks) are inline; every other file is a relative link. Nothing on
the page needs the scripts.

Top to bottom: the overall status and one verdict per checker; the headline numbers; the
counterexample when a checker found one; the run's parameters and the exact command to rerun
it; operations by f and outcome; throughput, latency and percentile plots with the nemesis
windows shaded; faults; recovery and the nodes' final status; node resources; errors and the
node log lines around them; the raw files.

Numbers about operations are taken from ``results.json`` (what the verdict was computed with);
the plots are drawn from ``history.jsonl`` with the same pairing and HdrHistogram settings as
`lab.stats`, so the two agree.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any, Final

from markupsafe import Markup

from lab.history.op import OUTCOMES
from lab.report.counterexample import counterexamples
from lab.report.logs import scan_logs
from lab.report.plots import render_plots
from lab.report.run import RunData, load_run
from lab.report.templating import (
    VERDICTS,
    environment,
    fmt_ms,
    fmt_rate,
    fmt_seconds,
    overall_status,
    unsafe_modes,
    write_atomic,
)

REPORT_NAME: Final = "report.html"
CHECKER_HTML: Final = "counterexample.html"
PERCENTILE_KEYS: Final = ("p50", "p95", "p99", "p99.9", "max", "mean")
MAX_FILES: Final = 200
_HIDDEN_CHECKER_KEYS: Final = ("invalid", "unknown", "source")


def write_run_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from the files in ``run_dir``; return its path.

    Raises FileNotFoundError when ``run_dir`` has no ``results.json``. Everything else is
    optional: a missing history or resource log leaves those plots empty, and the page lists
    what was missing.
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    context = build_context(run)
    context["render_seconds"] = time.perf_counter() - started
    html = environment().get_template("run.html.j2").render(context)
    out = run_dir / REPORT_NAME
    write_atomic(out, html)
    return out


def build_context(run: RunData) -> dict[str, Any]:
    """Everything ``run.html.j2`` shows, computed here so the template stays declarative."""
    results, config = run.results, run.config
    cxs = counterexamples(run, draw=not (run.run_dir / CHECKER_HTML).is_file())
    culprit = next((c.culprit_call_s for c in cxs if c.culprit_call_s is not None), None)
    plots = {p.id: p for p in render_plots(run, culprit_s=culprit)}
    status = overall_status(results)
    verdicts = [(name, _verdict(v)) for name, v in (results.get("verdicts") or {}).items()]
    return {
        "title": _title(results, config),
        "run_id": str(config.get("run_id") or run.run_dir.name),
        "throughput": {
            k: (results.get("throughput") or {}).get(k) for k in ("ok_per_s", "all_per_s")
        },
        "status": status,
        "verdicts": verdicts,
        "errors": [str(e) for e in results.get("errors") or []],
        "cards": _cards(results, run),
        "params": _params(results, config),
        "rerun": str(results.get("rerun") or config.get("rerun") or ""),
        "ops_table": _ops_table(results),
        "latency": _latency(results),
        "plots": {k: _plot(p) for k, p in plots.items()},
        "faults": _faults(run),
        "recovery": _recovery(results),
        "interrupted": _interrupted(results),
        "unsafe": unsafe_modes(results) or unsafe_modes(config),
        "final_statuses": _final_statuses(results),
        "checkers": _checkers(results),
        "counterexamples": cxs,
        "checker_html": _checker_html(run.run_dir),
        "checker_html_name": CHECKER_HTML,
        "logs": scan_logs(run.run_dir),
        "files": _files(run.run_dir),
        "notes": run.notes,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "render_seconds": 0.0,
    }


def _verdict(v: Any) -> str:
    return v if v in VERDICTS else "unknown"


def _title(results: dict[str, Any], config: dict[str, Any]) -> str:
    scenario = results.get("scenario") or config.get("scenario") or "run"
    seed = results.get("seed", config.get("seed"))
    return f"{scenario} · seed {seed}" if seed is not None else str(scenario)


def _cards(results: dict[str, Any], run: RunData) -> list[dict[str, Any]]:
    """The headline numbers; ``metric`` names the value in ``results.json`` for tests."""
    ops = (results.get("ops") or {}).get("total") or {}
    tput = results.get("throughput") or {}
    ok_lat = (results.get("latency_ms") or {}).get("ok") or {}
    rec = results.get("recovery_seconds")
    total = sum(int(ops.get(o, 0)) for o in OUTCOMES)
    return [
        {
            "label": "ok operations",
            "metric": "ops.total.ok",
            "raw": ops.get("ok"),
            "value": f"{int(ops.get('ok', 0)):,}",
            "sub": f"of {total:,}: {int(ops.get('fail', 0)):,} fail, "
            f"{int(ops.get('info', 0)):,} info",
        },
        {
            "label": "throughput",
            "metric": "throughput.ok_per_s",
            "raw": tput.get("ok_per_s"),
            "value": fmt_rate(tput.get("ok_per_s")) + " ok/s",
            "sub": fmt_rate(tput.get("all_per_s")) + " ops/s in all",
        },
        {
            "label": "p99 latency (ok)",
            "metric": "latency_ms.ok.p99",
            "raw": ok_lat.get("p99"),
            "value": fmt_ms(ok_lat.get("p99")),
            "sub": f"p50 {fmt_ms(ok_lat.get('p50'))} · max {fmt_ms(ok_lat.get('max'))}",
        },
        {
            "label": "recovery",
            "metric": "recovery_seconds",
            "raw": rec,
            "value": _recovery(results)["text"],
            "sub": "after the last fault healed" if run.windows else "after the workload",
        },
        {
            "label": "faults",
            "metric": "faults",
            "raw": len(run.windows),
            "value": str(len(run.windows)),
            "sub": ", ".join(sorted({w.fault for w in run.windows})) or "none",
        },
        {
            "label": "wall time",
            "metric": "wall_seconds",
            "raw": results.get("wall_seconds"),
            "value": fmt_seconds(results.get("wall_seconds")),
            "sub": f"workload {fmt_seconds(results.get('duration'))}",
        },
    ]


def _params(results: dict[str, Any], config: dict[str, Any]) -> list[tuple[str, str]]:
    def get(key: str) -> Any:
        return config.get(key, results.get(key))

    options = config.get("node_options") or results.get("node_options") or {}
    rows: list[tuple[str, Any]] = [
        ("scenario", get("scenario")),
        ("seed", get("seed")),
        ("nodes", get("nodes")),
        ("duration", None if get("duration") is None else f"{float(get('duration')):g} s"),
        ("runtime", get("runtime")),
        ("concurrency", get("concurrency")),
        ("rate", None if not get("rate") else f"{float(get('rate')):g} ops/s"),
        ("keys", get("keys")),
        ("faults", ", ".join(config.get("faults") or []) or "the scenario's schedule"),
        ("node options", ", ".join(f"{k}={_short(v)}" for k, v in options.items()) or "defaults"),
        ("op timeout", None if get("op_timeout") is None else f"{get('op_timeout'):g} s"),
        ("python", get("python")),
        ("run id", get("run_id")),
    ]
    return [(k, str(v)) for k, v in rows if v is not None]


def _short(v: Any) -> str:
    if isinstance(v, list | tuple) and not v:
        return "[]"
    return json.dumps(v) if not isinstance(v, str) else v


def _ops_table(results: dict[str, Any]) -> dict[str, Any]:
    ops = results.get("ops") or {}
    by_f = ops.get("by_f") or {}
    rows = []
    for f in sorted(by_f):
        counts = {o: int(by_f[f].get(o, 0)) for o in OUTCOMES}
        rows.append({"f": f, **counts, "total": sum(counts.values())})
    total = {o: int((ops.get("total") or {}).get(o, 0)) for o in OUTCOMES}
    return {"rows": rows, "total": {**total, "total": sum(total.values())}}


def _latency(results: dict[str, Any]) -> list[dict[str, Any]]:
    lat = results.get("latency_ms") or {}
    return [
        {
            "name": name,
            "count": lat[name].get("count"),
            **{k: lat[name].get(k) for k in PERCENTILE_KEYS},
        }
        for name in ("ok", "all")
        if isinstance(lat.get(name), dict)
    ]


def _plot(p: Any) -> dict[str, Any]:
    return {
        "id": p.id,
        "title": p.title,
        "caption": p.caption,
        "svg": Markup(p.svg),
        "key": p.key,
    }


def _faults(run: RunData) -> list[dict[str, Any]]:
    scheduled = list(run.results.get("faults") or [])
    rows = []
    for w in run.windows:
        plan = next((s for s in scheduled if s.get("fault") == w.fault), None)
        if plan is not None:
            scheduled.remove(plan)
        rows.append(
            {
                "fault": w.fault,
                "start": w.start,
                "end": w.end,
                "length": None if w.end is None else w.end - w.start,
                "detail": w.detail,
                "planned": None if plan is None else (plan.get("start"), plan.get("end")),
                "seed": None if plan is None else plan.get("seed"),
            }
        )
    return rows


def _interrupted(results: dict[str, Any]) -> dict[str, Any] | None:
    """Which signal stopped the run, how far it got (the workload's measured span) and whether
    what ran was checked; ``None`` for a run that ran its course."""
    signal = results.get("interrupted")
    if not signal:
        return None
    return {
        "signal": str(signal),
        "ran": (results.get("throughput") or {}).get("span_seconds"),
        "planned": results.get("duration"),
        "checked": bool(results.get("checked", True)),
    }


def _recovery(results: dict[str, Any]) -> dict[str, Any]:
    rec = results.get("recovery_seconds")
    verdict = (results.get("verdicts") or {}).get("recovery")
    if rec is None:
        not_measured = results.get("interrupted") or verdict in (None, "unknown")
        text = "not measured" if not_measured else "did not recover"
    else:
        text = fmt_seconds(rec)
    return {
        "seconds": rec,
        "text": text,
        "verdict": None if verdict is None else _verdict(verdict),
    }


def _final_statuses(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for entry in results.get("final_statuses") or []:
        status = entry.get("status") or {}
        rows.append(
            {
                "node": entry.get("node"),
                "up": bool(status),
                **{k: status.get(k) for k in ("role", "term", "leader", "commit", "applied")},
                "voters": ", ".join(str(v) for v in status.get("voters") or []),
            }
        )
    return rows


def _checkers(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per checker with JSON in results.json (verdict-only checkers have none)."""
    out = []
    for name, data in (results.get("checkers") or {}).items():
        if not isinstance(data, dict):
            continue
        shown = {k: v for k, v in data.items() if k not in _HIDDEN_CHECKER_KEYS}
        verdict = data.get("verdict") or (results.get("verdicts") or {}).get(name)
        out.append(
            {
                "name": name,
                "verdict": _verdict(verdict),
                "partitions": data.get("partitions"),
                "unknown": data.get("unknown") or [],
                "json": json.dumps(shown, indent=2, sort_keys=True, default=str),
            }
        )
    return out


def _checker_html(run_dir: Path) -> str | None:
    path = run_dir / CHECKER_HTML
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace")


def _children(path: Path) -> list[Path]:
    return list(path.iterdir()) if path.is_dir() else []


def _files(run_dir: Path) -> list[dict[str, Any]]:
    """The run's files (top level and ``nodes/``, not the nodes' data directories), linked."""
    files = [
        p
        for p in [*run_dir.iterdir(), *_children(run_dir / "nodes")]
        if p.is_file() and not p.name.startswith(".") and p.name != REPORT_NAME
    ]
    files.sort(key=lambda p: (len(p.relative_to(run_dir).parts), p.as_posix()))
    del files[MAX_FILES:]
    return [
        {
            "name": p.relative_to(run_dir).as_posix(),
            "href": urllib.parse.quote(p.relative_to(run_dir).as_posix()),
            "size": p.stat().st_size,
        }
        for p in files
    ]


__all__ = ["REPORT_NAME", "build_context", "write_run_report"]
