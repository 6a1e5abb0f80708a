"""One window's verdict and numbers: what the soak keeps in memory once a window is checked.

`check_window` runs in a worker process while the next window runs: it checks the window's
history on its own (`lab.checks.check_run`: linearizability, recovery), writes the window's
``results.json`` (and its ``report.html`` when asked), and returns a `WindowResult` — a few
kilobytes, including the window's latency histogram in HdrHistogram's compressed form so
the soak's percentiles can be merged without the histories.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hdrh.histogram import HdrHistogram

from lab.checks import check_run, is_final_read
from lab.history import Op, read_jsonl
from lab.history.op import OUTCOMES
from lab.runner import RunOutcome
from lab.stats import histogram, latency_summary, samples
from lab.store import write_json
from lab.test import LabTest

SETTLE_S: Final = 5.0
"""Steady-state latency leaves out the first this-many seconds of a window (the previous
window's heal and recovery, its check starting in the worker) and as long after its fault
stops (the cluster is still recovering)."""
MAX_ERRORS: Final = 20


@dataclass(slots=True)
class WindowResult:
    index: int
    dir: str
    """The window's directory, relative to the soak's."""
    prefix: str
    seed: int
    start_s: float
    """Soak time (seconds) when the window's workload started."""
    length_s: float
    wall_s: float = 0.0
    """Workload, heal, recovery and final reads."""
    faults: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    valid: bool = False
    verdicts: dict[str, str] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)
    ok_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    steady_p99_ms: float = 0.0
    steady_ops: int = 0
    recovery_s: float | None = None
    live_keys: int = 0
    live_bytes: int = 0
    writes: int = 0
    """Writes and CASes that may have been applied (ok or info)."""
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Problems that do not bear on the verdict (a report that could not be drawn)."""
    check_s: float = 0.0
    report: str | None = None
    ok_hdr: str = ""
    """The latencies of the window's ok operations (HdrHistogram, compressed): the soak's
    overall percentiles merge these."""

    @property
    def status(self) -> str:
        """``valid``; ``invalid`` (a checker said so, or the run had errors); ``interrupted``
        (cut short by a signal, nothing found in what ran); or ``unknown``."""
        if self.valid:
            return "valid"
        if "invalid" in self.verdicts.values():
            return "invalid"
        if self.interrupted:
            return "interrupted"
        return "invalid" if self.errors else "unknown"

    @property
    def end_s(self) -> float:
        return self.start_s + self.length_s

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "status": self.status}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WindowResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def encode_hdr(h: HdrHistogram) -> str:
    """HdrHistogram's own compressed, base64 form ("" for an empty histogram)."""
    return "" if h.get_total_count() == 0 else h.encode().decode("ascii")


def decode_hdr(text: str) -> HdrHistogram:
    """A histogram from `encode_hdr` (empty text: an empty histogram)."""
    h = histogram(())
    if text:
        h.add(HdrHistogram.decode(text.encode("ascii")))
    return h


@dataclass(frozen=True, slots=True)
class WindowJob:
    """Everything `check_window` needs (picklable: it crosses into a worker process)."""

    base: WindowResult
    window_dir: Path
    test: LabTest
    outcome: RunOutcome | None
    error: str | None
    rerun: str
    checker_timeout: float = 120.0
    report: str = "failed"
    """Write the window's report.html: ``all``, ``failed`` (windows not valid) or ``none``."""


def ignore_sigint() -> None:
    """Worker initializer: Ctrl-C (SIGINT to the whole process group) is the soak's to handle,
    not its checker's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def check_window(job: WindowJob) -> WindowResult:
    started = time.monotonic()
    r = dataclasses.replace(job.base)
    wdir = job.window_dir
    write_json(wdir / "config.json", window_config(job))
    results = check_run(
        wdir, job.test, job.outcome, job.error, wall_seconds=r.wall_s,
        checker_timeout=job.checker_timeout,
    )  # fmt: skip
    results["rerun"] = job.rerun
    results["soak_window"] = {"index": r.index, "prefix": r.prefix, "start_s": r.start_s}
    if r.interrupted:
        results["errors"].append("window stopped early: no recovery check, no final reads")
    write_json(wdir / "results.json", results)
    r.verdicts = dict(results["verdicts"])
    r.valid = bool(results["valid"])
    r.errors = [str(e) for e in results["errors"]][:MAX_ERRORS]
    totals = results["ops"]["total"]
    r.ops = {k: int(totals.get(k, 0)) for k in OUTCOMES}
    r.ok_per_s = float(results["throughput"]["ok_per_s"])
    r.p50_ms = float(results["latency_ms"]["ok"]["p50"])
    r.p99_ms = float(results["latency_ms"]["ok"]["p99"])
    r.recovery_s = results["recovery_seconds"]
    r.faults = [
        {"fault": f["fault"], "start": f["start"], "end": f["end"]} for f in results["faults"]
    ]
    path = wdir / "history.jsonl"
    events = read_jsonl(path).events if path.exists() else []
    _history_numbers(r, events)
    if job.report == "all" or (job.report == "failed" and not r.valid):
        r.report = _write_report(wdir, r)
    r.check_s = round(time.monotonic() - started, 3)
    return r


def window_config(job: WindowJob) -> dict[str, Any]:
    d = dataclasses.asdict(job.test)
    d["store"] = str(job.test.store)
    d["rerun"] = job.rerun
    d["run_id"] = f"{job.window_dir.parent.parent.name}/{job.window_dir.name}"
    d["soak_window"] = {
        "index": job.base.index,
        "prefix": job.base.prefix,
        "seed": job.base.seed,
        "start_s": job.base.start_s,
    }
    return d


def _history_numbers(r: WindowResult, events: list[Op]) -> None:
    """Steady-state latency, live keys and possibly-applied writes, from the history."""
    marks = [(op.time or 0, op.f) for op in events if op.is_nemesis]
    starts = [t for t, f in marks if str(f).startswith("start-")]
    stops = [t for t, f in marks if str(f).startswith("stop-")]
    quiet_from = None if not starts else (max(stops, default=max(starts)) + SETTLE_S * 1e9)
    fault_from = min(starts) if starts else None
    body = [op for op in events if not is_final_read(op)]
    ss = samples(body)
    ok = [s for s in ss if s.type == "ok"]
    settled = SETTLE_S * 1e9  # the previous window's heal and check are still settling
    steady = [
        s for s in ok
        if s.start_ns >= settled and (
            fault_from is None or s.start_ns < fault_from
            or (quiet_from is not None and s.start_ns >= quiet_from)
        )
    ]  # fmt: skip
    ok_h = histogram(s.latency_ns for s in ok)
    steady_h = histogram(s.latency_ns for s in steady)
    r.ok_hdr = encode_hdr(ok_h)
    r.steady_ops = len(steady)
    r.steady_p99_ms = latency_summary(steady_h)["p99"]
    r.writes = sum(1 for s in ss if s.f in ("write", "cas") and s.type in ("ok", "info"))
    live: dict[str, Any] = {}
    for op in events:
        if is_final_read(op) and op.type == "ok" and op.f == "read" and op.key is not None:
            live[op.key] = op.value
    present = {k: v for k, v in live.items() if v is not None}
    r.live_keys = len(present)
    r.live_bytes = sum(len(k) + len(str(v)) for k, v in present.items())


def _write_report(wdir: Path, r: WindowResult) -> str | None:
    try:
        from lab.report.html import write_run_report

        return str(write_run_report(wdir).relative_to(wdir.parent.parent))
    except Exception as e:  # the window's verdict stands without its page
        r.notes.append(f"window report failed: {e!r}")
        return None
