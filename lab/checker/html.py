"""A self-contained HTML/SVG timeline of a check, for people (no scripts, no CDN).

For each invalid partition: one lane per process, time flowing right, each operation a bar from
its call to its return (an unknown outcome fades out to the right edge). The longest
linearizable prefix the search found is numbered in linearization order (green), the operation
that could not be placed is red, the rest of the smallest failing window orange, other
operations grey. Hovering a bar shows its description (SVG ``<title>``). Time is drawn by rank
of the distinct call/return instants, not to scale: what matters is which operations overlap.

`render_partition_svg` gives the ``<svg>`` alone, for a run report to embed; `render_html` the
whole page that ``aspen-lab check --html`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Final

from lab.checker.result import PartitionResult, Result, Verdict
from lab.history.op import Operation

MAX_OPS: Final = 300
_LANE: Final = 26
_BAR: Final = 16
_LEFT: Final = 70
_TOP: Final = 28
_COLORS: Final = {
    "culprit": "#d62728",
    "prefix": "#2ca02c",
    "window": "#ff7f0e",
    "other": "#9e9e9e",
}


def _selection(p: PartitionResult, max_ops: int) -> list[Operation]:
    """The operations worth drawing: the window, the end of the prefix, and what overlaps."""
    ops = sorted(p.operations, key=lambda op: (op.call, op.id))
    cx = p.counterexample
    if cx is None or len(ops) <= max_ops:
        return ops[:max_ops]
    focus = set(cx.window) | set(cx.prefix[-30:])
    if cx.culprit is not None:
        focus.add(cx.culprit)
    chosen = [op for op in ops if op.id in focus] or ops[:max_ops]
    lo = min(op.call for op in chosen)
    hi = max(op.ret if op.ret is not None else op.call for op in chosen)
    around = [
        op
        for op in ops
        if op.id not in focus and op.call <= hi and (op.ret is None or op.ret >= lo)
    ]
    room = max(0, max_ops - len(chosen))
    return sorted(chosen + around[:room], key=lambda op: (op.call, op.id))


def render_partition_svg(p: PartitionResult, *, max_ops: int = MAX_OPS) -> str:
    """An ``<svg>`` timeline of one partition (usually an invalid one)."""
    ops = _selection(p, max_ops)
    if not ops:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="20"></svg>'
    cx = p.counterexample
    order = {op_id: i + 1 for i, op_id in enumerate(cx.prefix)} if cx else {}
    window = set(cx.window) if cx else set()
    culprit = cx.culprit if cx else None
    instants = sorted({op.call for op in ops} | {op.ret for op in ops if op.ret is not None})
    rank = {t: i for i, t in enumerate(instants)}
    step = max(8, min(48, 1400 // max(1, len(instants))))
    right = _LEFT + step * (len(instants) + 1)
    processes = sorted(
        {op.process for op in ops},
        key=lambda x: (1, 0, str(x)) if isinstance(x, str) else (0, x, ""),
    )
    lane = {proc: i for i, proc in enumerate(processes)}
    width = right + 20
    height = _TOP + _LANE * len(processes) + 10
    out = [
        # Scaled to its frame (the viewBox keeps the proportions): the whole failing window,
        # culprit included, is on screen in a report's frame of any width, never scrolled off.
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" data-width="{width}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="10">',
        '<defs><linearGradient id="fade" x1="0" x2="1" y1="0" y2="0">'
        '<stop offset="0" stop-color="white" stop-opacity="0"/>'
        '<stop offset="1" stop-color="white" stop-opacity="1"/></linearGradient></defs>',
        f'<text x="4" y="14" font-size="11">key {escape(_key(p.key))}: {len(ops)} of '
        f"{p.ops} operations shown, time by rank</text>",
    ]
    for proc, i in lane.items():
        y = _TOP + i * _LANE
        out.append(
            f'<text x="4" y="{y + _BAR - 4}">p{escape(str(proc))}</text>'
            f'<line x1="{_LEFT}" y1="{y + _BAR // 2}" x2="{right}" y2="{y + _BAR // 2}" '
            'stroke="#eee"/>'
        )
    for op in ops:
        x0 = _LEFT + step * rank[op.call]
        x1 = right if op.ret is None else _LEFT + step * rank[op.ret] + step // 2
        y = _TOP + lane[op.process] * _LANE
        desc = p.descriptions.get(op.id, f"{op.f}({op.input!r})")
        if op.id == culprit:
            kind, role = "culprit", "could not be placed"
        elif op.id in order:
            kind, role = "prefix", f"linearized #{order[op.id]}"
        elif op.id in window:
            kind, role = "window", "in the failing window"
        else:
            kind, role = "other", ""
        ret = "unknown (may or may not have happened)" if op.ret is None else str(op.ret)
        title = f"#{op.id} p{op.process} {desc}\ncall {op.call}, return {ret}"
        if role:
            title += f"\n{role}"
        w = max(3, x1 - x0)
        stroke = ' stroke="black" stroke-width="2"' if op.id == culprit else ""
        # Outside the failing window, bars are faint: the window is what to read first.
        opacity = "0.9" if not window or op.id in window else "0.35"
        out.append(
            f'<g><title>{escape(title)}</title><rect x="{x0}" y="{y}" width="{w}" '
            f'height="{_BAR}" rx="3" fill="{_COLORS[kind]}" fill-opacity="{opacity}"{stroke}/>'
        )
        if op.ret is None:
            out.append(
                f'<rect x="{x0 + w // 2}" y="{y}" width="{w - w // 2}" height="{_BAR}" '
                'fill="url(#fade)"/>'
            )
        label = f"{order[op.id]}: {desc}" if op.id in order else desc
        chars = max(0, (w - 6) // 6)
        if op.id in order and chars < 3:
            label, chars = str(order[op.id]), len(str(order[op.id]))
        if chars >= 1:
            text = label if len(label) <= chars else label[: chars - 1] + "\u2026"
            out.append(f'<text x="{x0 + 3}" y="{y + _BAR - 4}">{escape(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


_CSS: Final = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 2em; }
.verdict { font-weight: bold; padding: 0.1em 0.5em; border-radius: 4px; color: white; }
.valid { background: #2ca02c; } .invalid { background: #d62728; }
.unknown { background: #7f7f7f; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
.timeline { overflow-x: auto; border: 1px solid #ddd; padding: 4px; }
.legend span { display: inline-block; width: 1em; height: 0.8em; margin: 0 0.3em 0 1em; }
pre { white-space: pre-wrap; }
"""


def render_html(result: Result, *, title: str | None = None, max_partitions: int = 5) -> str:
    """A whole page: verdict, partition counts, and a timeline per invalid partition."""
    title = title or f"Linearizability: {result.source or 'history'}"
    counts = result.to_json()["partitions"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p><span class="verdict {result.verdict}">{str(result.verdict).upper()}</span> '
        f"{result.ops} operations, model <code>{escape(result.model)}</code>, "
        f"{result.elapsed:.3f}s</p>",
        "<table><tr><th>partitions</th><th>valid</th><th>invalid</th><th>unknown</th></tr>"
        f"<tr><td>{counts['total']}</td><td>{counts['valid']}</td><td>{counts['invalid']}</td>"
        f"<td>{counts['unknown']}</td></tr></table>",
    ]
    if result.reason:
        parts.append(f"<p>{escape(result.reason)}</p>")
    legend = "".join(
        f'<span style="background:{_COLORS[k]}"></span>{label}'
        for k, label in (
            ("prefix", "longest linearizable prefix (numbered)"),
            ("culprit", "could not be placed"),
            ("window", "in the smallest failing window, not in the prefix"),
            ("other", "other operations (faint: outside the window)"),
        )
    )
    for p in result.invalid[:max_partitions]:
        parts.append(f"<h2>key {escape(_key(p.key))}: not linearizable</h2>")
        if p.counterexample is not None:
            parts.append(f"<p>{escape(p.counterexample.message)}</p>")
        parts.append(f'<p class="legend">{legend}</p>')
        parts.append(f'<div class="timeline">{render_partition_svg(p)}</div>')
        parts.append(_window_table(p))
    if len(result.invalid) > max_partitions:
        parts.append(f"<p>{len(result.invalid) - max_partitions} more invalid partitions.</p>")
    unknown = [p for p in result.unknown if p.verdict is Verdict.UNKNOWN][:20]
    if unknown:
        parts.append("<h2>Partitions without a verdict</h2><table><tr><th>key</th><th>ops</th>")
        parts.append("<th>reason</th></tr>")
        for p in unknown:
            parts.append(
                f"<tr><td>{escape(_key(p.key))}</td><td>{p.ops}</td>"
                f"<td>{escape(p.reason)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _window_table(p: PartitionResult) -> str:
    cx = p.counterexample
    if cx is None or not cx.window:
        return ""
    by_id = {op.id: op for op in p.operations}
    rows = [
        "<table><tr><th>op</th><th>process</th><th>operation</th><th>call</th><th>return</th></tr>"
    ]
    for i in cx.window:
        op = by_id.get(i)
        if op is None:
            continue
        mark = " (could not be placed)" if i == cx.culprit else ""
        rows.append(
            f"<tr><td>#{op.id}</td><td>{escape(str(op.process))}</td>"
            f"<td>{escape(p.descriptions.get(op.id, op.f))}{mark}</td><td>{op.call}</td>"
            f"<td>{'unknown' if op.ret is None else op.ret}</td></tr>"
        )
    rows.append("</table>")
    label = "Smallest failing window" if cx.window_minimal else "Failing window (not shrunk)"
    return f"<h3>{label}</h3>" + "".join(rows)


def write_html(result: Result, path: str | Path, *, title: str | None = None) -> None:
    """Write `render_html` to ``path``."""
    Path(path).write_text(render_html(result, title=title), encoding="utf-8")


def _key(key: object) -> str:
    return "(none)" if key is None else repr(key)


__all__: Sequence[str] = ("render_html", "render_partition_svg", "write_html")
