"""A run directory, loaded for a report: config, results, operations, fault windows, resources.

Every timestamp a run writes is nanoseconds since the run started (the recorder's monotonic
clock), which includes forming the cluster. Reports put time 0 at the start of the *workload*
(the first client invoke, or the first resource sample if that came first): that is the origin
``results.json`` uses for its fault windows, so the shading drawn from ``nemesis.jsonl`` and
the table drawn from ``results.json`` agree.

Loading is tolerant: only ``results.json`` is required. A missing or damaged file leaves its
part of the report empty and adds a line to `RunData.notes`, which the report shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
import pandas as pd

from lab.history.op import OUTCOMES, is_compare_failure

NS: Final = 1_000_000_000
RESOURCE_COLUMNS: Final = ("cpu_percent", "rss_bytes", "open_fds", "threads", "data_bytes")


class _Event(msgspec.Struct):
    """The fields of a history line a report needs (``value`` and ``key`` are skipped)."""

    time: int | None = None
    process: int | str = 0
    type: str = ""
    f: str = ""
    node: str | None = None
    value: Any = None


_DECODE_EVENT: Final = msgspec.json.Decoder(_Event)


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """One nemesis fault, in seconds since the workload started; ``end`` None: never stopped."""

    fault: str
    start: float
    end: float | None
    detail: str = ""


@dataclass
class RunData:
    """Everything a report draws, with times in seconds since the workload started.

    ``ops``: one row per completed client operation: ``process``, ``f``, ``type`` (an outcome:
    ok, compare_failed, fail, info), ``node``, ``start`` and ``end`` (s), ``latency_ms``.
    Invokes still open at the end of the history are not operations here (they have no
    latency), as in `lab.stats`.
    ``resources``: one row per node per sample: ``time`` (s), ``node``, ``up`` and the
    `RESOURCE_COLUMNS` (NaN while a node was down).
    """

    run_dir: Path
    config: dict[str, Any]
    results: dict[str, Any]
    ops: pd.DataFrame
    windows: list[FaultWindow]
    resources: pd.DataFrame
    origin_ns: int
    notes: list[str] = field(default_factory=list)

    @property
    def span(self) -> float:
        """Seconds from the workload start to the last thing recorded (at least 1)."""
        ends = [1.0]
        if not self.ops.empty:
            ends.append(float(self.ops["end"].max()))
        if not self.resources.empty:
            ends.append(float(self.resources["time"].max()))
        ends.extend(w.end if w.end is not None else w.start for w in self.windows)
        return max(ends)

    @property
    def workload_seconds(self) -> float | None:
        """How long the workload was configured to run (faults and checks come after)."""
        duration = self.config.get("duration", self.results.get("duration"))
        return float(duration) if isinstance(duration, int | float) else None

    def seconds(self, ns: int | float) -> float:
        """A run timestamp (ns since the run started) as seconds since the workload started."""
        return (ns - self.origin_ns) / NS


def load_run(run_dir: Path) -> RunData:
    """Read a run directory.

    Raises FileNotFoundError when it has no ``results.json``, ValueError when that is not a
    chaos run's results (a load run's, for one: ``aspen-lab load`` writes its own report).
    """
    run_dir = Path(run_dir)
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    if not isinstance(results, dict):
        raise ValueError(f"{run_dir / 'results.json'} is not a JSON object")
    if results.get("kind") == "aspen-load":
        raise ValueError(f"{run_dir} is a load run: `aspen-lab load` writes its report")
    notes: list[str] = []
    config = _read_json(run_dir / "config.json", notes)
    events = _read_events(run_dir / "history.jsonl", notes)
    nemesis = _read_events(run_dir / "nemesis.jsonl", notes, quiet_missing=True)
    resources = _read_resources(run_dir / "resources.jsonl", notes)

    client_times = [e.time for e in events if not _is_nemesis(e) and e.time is not None]
    starts = [t for t in (min(client_times, default=None), _first(resources)) if t is not None]
    origin = min(starts, default=0)

    ops = _pair(events, origin)
    marks = nemesis or [e for e in events if _is_nemesis(e)]
    if marks:
        windows = _windows(marks, origin)
    else:
        windows = [
            FaultWindow(str(w.get("fault", "fault")), float(w["start"]), _opt(w.get("end")))
            for w in results.get("faults") or []
            if "start" in w
        ]
    frame = pd.DataFrame(resources, columns=["time", "node", "up", *RESOURCE_COLUMNS])
    if not frame.empty:
        frame["time"] = (frame["time"].astype("float64") - origin) / NS
        frame["up"] = frame["up"].fillna(False).astype(bool)
        for col in RESOURCE_COLUMNS:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return RunData(run_dir, config, results, ops, windows, frame, origin, notes)


def _read_json(path: Path, notes: list[str]) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        notes.append(f"{path.name} is missing")
        return {}
    except ValueError as e:
        notes.append(f"{path.name} is not valid JSON: {e}")
        return {}
    return data if isinstance(data, dict) else {}


def _read_events(path: Path, notes: list[str], *, quiet_missing: bool = False) -> list[_Event]:
    """Decode a JSONL history; unreadable lines are skipped and counted in ``notes``."""
    if not path.exists():
        if not quiet_missing:
            notes.append(f"{path.name} is missing")
        return []
    events: list[_Event] = []
    bad = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                events.append(_DECODE_EVENT.decode(line))
            except msgspec.DecodeError:
                bad += 1
    if bad:
        notes.append(f"{path.name}: {bad} unreadable line(s) skipped")
    return events


def _read_resources(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    if not path.exists():
        notes.append(f"{path.name} is missing")
        return []
    rows: list[dict[str, Any]] = []
    bad = 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            row = msgspec.json.decode(line)
        except msgspec.DecodeError:
            bad += 1
            continue
        if isinstance(row, dict) and isinstance(row.get("time"), int | float):
            rows.append(row)
        else:
            bad += 1
    if bad:
        notes.append(f"{path.name}: {bad} unreadable line(s) skipped")
    return rows


def _first(rows: list[dict[str, Any]]) -> int | None:
    return min((int(r["time"]) for r in rows), default=None)


def _is_nemesis(e: _Event) -> bool:
    # As `lab.history.Op.is_nemesis`: clients are numbered, the nemesis (and any other
    # non-client actor) is named.
    return isinstance(e.process, str)


def _opt(v: Any) -> float | None:
    return None if v is None else float(v)


def _pair(events: list[_Event], origin: int) -> pd.DataFrame:
    """Completed operations: each completion paired with its process's open invoke."""
    open_: dict[int | str, _Event] = {}
    cols: dict[str, list[Any]] = {k: [] for k in ("process", "f", "type", "node", "start", "end")}
    for e in events:
        if _is_nemesis(e) or e.time is None:
            continue
        if e.type == "invoke":
            open_[e.process] = e
            continue
        inv = open_.pop(e.process, None)
        if inv is None or inv.time is None or e.type not in OUTCOMES:
            continue
        compare_failed = e.type == "ok" and is_compare_failure(e.f, e.value)
        cols["process"].append(e.process)
        cols["f"].append(e.f)
        cols["type"].append("compare_failed" if compare_failed else e.type)
        cols["node"].append(e.node or inv.node or "")
        cols["start"].append(inv.time)
        cols["end"].append(e.time)
    frame = pd.DataFrame(cols)
    start = frame["start"].astype("int64")
    end = frame["end"].astype("int64")
    frame["latency_ms"] = (end - start).astype("float64") / 1e6
    frame["start"] = (start - origin).astype("float64") / NS
    frame["end"] = (end - origin).astype("float64") / NS
    return frame


def _windows(marks: list[_Event], origin: int) -> list[FaultWindow]:
    """Pair ``start-X`` with the next ``stop-X``; a stop with no open start is a no-op heal."""
    out: list[FaultWindow] = []
    open_: dict[str, tuple[float, str]] = {}
    for e in sorted(marks, key=lambda m: m.time if m.time is not None else 0):
        if e.time is None:
            continue
        phase, _, fault = e.f.partition("-")
        t = (e.time - origin) / NS
        if phase == "start" and fault:
            open_.setdefault(fault, (t, _detail(e.value)))
        elif phase == "stop" and fault in open_:
            start, detail = open_.pop(fault)
            out.append(FaultWindow(fault, start, t, detail))
    out.extend(FaultWindow(f, start, None, detail) for f, (start, detail) in open_.items())
    return sorted(out, key=lambda w: w.start)


def _detail(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("partition", "target", "nodes", "node"):
            if key in value:
                return str(value[key])
        return ", ".join(f"{k}={v}" for k, v in value.items() if k != "links")[:120]
    return "" if value is None else str(value)[:120]
