"""``report.html`` of a load run: one self-contained page (inline SVG charts, no scripts).

It looks like the chaos run report (the same stylesheet, ``lab/report/templates/_style.css``)
and opens with the same status banner (`load_status`). It shows throughput and
p50/p95/p99/p99.9/max per workload, the gates against a baseline (with a warning when the
baseline came from another machine), any ramp's steps and knee, and charts: throughput
(from 0), latency percentiles (log, in plain numbers), and operations per second over time.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from lab.report.plots import _log_y as plain_log_y
from lab.report.templating import asset, page_scripts

TEMPLATE = Path(__file__).with_name("report.html.j2")
PERCENTILES = ("p50", "p95", "p99", "p99.9", "max")


def load_status(results: dict[str, Any]) -> tuple[str, str]:
    """The banner's status and the line that explains it.

    ``unknown`` when the run hit an error, ``interrupted`` when a signal cut it short (its gates,
    over a partial run, prove nothing), else ``invalid`` when a gate failed and ``valid`` when
    they all passed or, with no baseline, none were checked.
    """
    if results.get("error"):
        return "unknown", f"The run failed: {results['error']}. It proves nothing either way."
    if signal := results.get("interrupted"):
        by = signal if isinstance(signal, str) else "a signal"  # older results: True
        return "interrupted", f"Stopped early by {by}: the numbers cover what ran; no verdict."
    g = results.get("gates")
    if not g:
        return "valid", "no baseline: no gates were checked"
    failed = [x for x in g.get("results", []) if not x.get("passed")]
    if failed or not g.get("passed", True):
        named = ", ".join(f"{x['workload']} {x['gate']}" for x in failed)
        return "invalid", f"{len(failed)} gate(s) failed against the baseline: {named}."
    return "valid", f"Every gate ({len(g.get('results', []))}) passed against the baseline."


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.find("<svg") :]


def throughput_chart(workloads: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(7, 3))
    names = list(workloads)
    ax.bar(names, [w["throughput"] for w in workloads.values()], color="#3b75af")
    ax.set_ylabel("ok ops/s")
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def latency_chart(workloads: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / max(1, len(workloads))
    for i, (name, w) in enumerate(workloads.items()):
        xs = [x + i * width for x in range(len(PERCENTILES))]
        ax.bar(xs, [max(w["latency_ms"][p], 1e-3) for p in PERCENTILES], width, label=name)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(PERCENTILES))], list(PERCENTILES))
    ax.set_yscale("log")
    plain_log_y(ax)
    ax.set_ylabel("latency (ms, log)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def timeline_chart(workloads: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(8, 3))
    for name, w in workloads.items():
        series = (w.get("timeline") or [])[: max(1, int(w.get("duration_s", 0)))]  # full seconds
        ax.plot(range(len(series)), series, label=name, linewidth=1.2)
    ax.set_xlabel("second of the workload")
    ax.set_ylabel("completions/s")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def ramp_chart(name: str, ramp: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(7, 3))
    steps = ramp["steps"]
    rates = [s["rate"] for s in steps]
    ax.plot(rates, [s["latency_ms"]["p99"] for s in steps], marker="o", label="p99")
    ax.plot(rates, [s["latency_ms"]["p50"] for s in steps], marker=".", label="p50")
    ax.axhline(ramp["p99_bound_ms"], color="#b3121e", linestyle="--", label="p99 bound")
    if ramp.get("knee_rate"):
        ax.axvline(ramp["knee_rate"], color="#17692f", linestyle=":", label="knee")
    ax.set_xlabel(f"target rate (ops/s), workload {name}")
    ax.set_ylabel("latency (ms, log)")
    ax.set_yscale("log")
    plain_log_y(ax)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def _fmt_gate(gate: str, value: float | None) -> str:
    if value is None:
        return "-"
    if gate == "error_rate":
        return f"{100 * value:.3f}%"
    if gate == "p99":
        return f"{value:.2f} ms"
    return f"{value:.1f} ops/s"


def _fmt_delta(gate: str, delta: float | None) -> str:
    if delta is None:
        return "-"
    if gate == "error_rate":
        return f"{100 * delta:+.3f} pts"
    return f"{100 * delta:+.1f}%"


def render(results: dict[str, Any]) -> str:
    workloads = results.get("workloads", {})
    charts: list[tuple[str, str]] = []
    if workloads:
        charts.append(("Throughput", throughput_chart(workloads)))
        charts.append(("Latency percentiles", latency_chart(workloads)))
        if any(w.get("timeline") for w in workloads.values()):
            charts.append(("Operations per second", timeline_chart(workloads)))
    for name, w in workloads.items():
        if w.get("ramp", {}).get("steps"):
            charts.append((f"Ramp {name}: latency by rate", ramp_chart(name, w["ramp"])))
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.ChainableUndefined, keep_trailing_newline=True
    )
    template = env.from_string(TEMPLATE.read_text())
    status, why = load_status(results)
    style = asset("_style.css")
    return template.render(
        r=results,
        status=status,
        why=why,
        style=style,
        **page_scripts(),
        g=results.get("gates"),
        charts=charts,
        fmt_gate=_fmt_gate,
        fmt_delta=_fmt_delta,
    )


def write_report(results: dict[str, Any], path: Path) -> Path:
    path.write_text(render(results))
    return path
