"""``reports/index.html``: every run in a store, newest first, each linked to its report.

A run is a directory ``<store>/<scenario>/<timestamp>/`` holding ``results.json``; the
``latest`` links are skipped, so each run is listed once. Only ``results.json`` is read (no
history), so the index stays cheap enough to rebuild after every run. Load runs (``aspen-lab
load``, ``"kind": "aspen-load"``) are listed too, with their gate outcome as status.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from lab.report.html import REPORT_NAME
from lab.report.templating import (
    MISSING,
    STATUSES,
    environment,
    overall_status,
    write_atomic,
)

DEFAULT_OUT: Final = Path("reports/index.html")
_STAMP: Final = re.compile(r"^(\d{8}T\d{6})(?:-(\d+))?$")


@dataclass(frozen=True, slots=True)
class RunRow:
    """One line of the index."""

    run_dir: Path
    kind: str
    """``chaos`` or ``load``."""
    scenario: str
    started: dt.datetime | None
    status: str
    """``valid``, ``invalid`` or ``unknown``; load runs: gates passed, failed, or none."""
    seed: Any
    duration: float | None
    ok_ops: int | None
    ok_per_s: float | None
    p99_ms: float | None
    recovery_s: float | None
    verdicts: dict[str, str]
    errors: int
    note: str
    report: str | None
    """Relative link from the index to the run's report.html, if it has one."""

    @property
    def started_text(self) -> str:
        return MISSING if self.started is None else self.started.strftime("%Y-%m-%d %H:%M:%S")


def find_runs(store_root: Path) -> list[Path]:
    """Run directories (with results.json) under ``store_root``, newest first."""
    found = []
    for results in Path(store_root).glob("*/*/results.json"):
        run = results.parent
        if run.is_symlink() or run.parent.is_symlink() or run.name.startswith("."):
            continue
        found.append(run)
    return sorted(found, key=_sort_key, reverse=True)


def write_index(store_root: Path, out: Path = DEFAULT_OUT) -> Path:
    """Write the index of every run under ``store_root`` to ``out``; return ``out``.

    Links are relative to ``out``'s directory, so the index and the store can be moved
    together (or served as static files). A run whose results.json cannot be read is listed
    with status unknown rather than dropped.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [_row(run, out.parent) for run in find_runs(store_root)]
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    html = (
        environment()
        .get_template("index.html.j2")
        .render(
            rows=rows,
            counts=counts,
            store=str(store_root),
            generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
    )
    write_atomic(out, html)
    return out


def _sort_key(run: Path) -> tuple[str, int, float]:
    m = _STAMP.match(run.name)
    mtime = (run / "results.json").stat().st_mtime
    if m is None:  # not a store timestamp: order by when the results were written
        stamp = dt.datetime.fromtimestamp(mtime, dt.UTC).strftime("%Y%m%dT%H%M%S")
        return (stamp, 0, mtime)
    return (m.group(1), int(m.group(2) or 1), mtime)


def _started(run: Path) -> dt.datetime | None:
    m = _STAMP.match(run.name)
    if m is None:
        return None
    return dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)


def _row(run: Path, index_dir: Path) -> RunRow:
    report = run / REPORT_NAME
    link = (
        urllib.parse.quote(Path(os.path.relpath(report.resolve(), index_dir.resolve())).as_posix())
        if report.is_file()
        else None
    )
    try:
        results = json.loads((run / "results.json").read_text(encoding="utf-8"))
        if not isinstance(results, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError):
        return RunRow(
            run,
            "chaos",
            run.parent.name,
            _started(run),
            "unknown",
            None,
            None,
            None,
            None,
            None,
            None,
            {},
            1,
            "results.json cannot be read",
            link,
        )
    if results.get("kind") == "aspen-load":
        return _load_row(run, results, link)
    ops = (results.get("ops") or {}).get("total") or {}
    verdicts = {str(k): str(v) for k, v in (results.get("verdicts") or {}).items()}
    return RunRow(
        run_dir=run,
        kind="chaos",
        scenario=str(results.get("scenario") or run.parent.name),
        started=_started(run),
        status=overall_status(results),
        seed=results.get("seed"),
        duration=_num(results.get("duration")),
        ok_ops=None if ops.get("ok") is None else int(ops["ok"]),
        ok_per_s=_num((results.get("throughput") or {}).get("ok_per_s")),
        p99_ms=_num(((results.get("latency_ms") or {}).get("ok") or {}).get("p99")),
        recovery_s=_num(results.get("recovery_seconds")),
        verdicts=verdicts,
        errors=len(results.get("errors") or []),
        note="",
        report=link,
    )


def _load_row(run: Path, results: dict[str, Any], link: str | None) -> RunRow:
    gates = results.get("gates")
    status = "unknown" if not gates else "valid" if gates.get("passed") else "invalid"
    phases = [w for w in (results.get("workloads") or {}).values() if isinstance(w, dict)]
    ok = sum(int(w.get("ok") or 0) for w in phases)
    return RunRow(
        run_dir=run,
        kind="load",
        scenario=f"load {'/'.join(sorted(results.get('workloads') or {}))}".strip(),
        started=_started(run),
        status=status,
        seed=(results.get("config") or {}).get("seed"),
        duration=sum(_num(w.get("duration_s")) or 0.0 for w in phases) or None,
        ok_ops=ok if phases else None,
        ok_per_s=max((_num(w.get("throughput")) or 0.0 for w in phases), default=None),
        p99_ms=max(
            (_num((w.get("latency_ms") or {}).get("p99")) or 0.0 for w in phases), default=None
        ),
        recovery_s=None,
        verdicts={},
        errors=1 if results.get("error") else 0,
        note={"valid": "gates passed", "invalid": "gates failed"}.get(status, "no gates"),
        report=link,
    )


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
