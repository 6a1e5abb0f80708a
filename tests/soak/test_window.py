"""Checking one window on its own: verdicts, steady-state latency, live keys, files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from lab.chaos.schedule import FaultWindow
from lab.history import NEMESIS, HistoryWriter
from lab.runner import RunOutcome
from lab.soak.window import (
    WindowJob,
    WindowResult,
    check_window,
    decode_hdr,
    encode_hdr,
)
from lab.stats import histogram
from lab.test import LabTest

S = 1_000_000_000
MS = 1_000_000


def write_history(wdir: Path, *, bad_read: bool = False) -> None:
    """Writes and reads on w0000-k0 every 100 ms for 30 s; a fault from 10 s to 20 s makes
    operations slow (400 ms); final reads see k0 and an absent k1."""
    wdir.mkdir(parents=True)
    h = HistoryWriter(wdir / "history.jsonl")
    nem = HistoryWriter(wdir / "nemesis.jsonl")
    value = 0
    for i in range(300):
        t = i * 100 * MS
        slow = 10 * S <= t < 20 * S
        lat = 400 * MS if slow else 2 * MS
        if i % 2 == 0:
            value += 1
            h.record(time=t, process=0, type="invoke", f="write", key="w0000-k0", value=value)
            h.record(time=t + lat, process=0, type="ok", f="write", key="w0000-k0", value=value)
        else:
            h.record(time=t, process=1, type="invoke", f="read", key="w0000-k0", value=None)
            seen = 999_999 if bad_read and i == 151 else value
            h.record(time=t + lat, process=1, type="ok", f="read", key="w0000-k0", value=seen)
        if i == 100:
            for w in (h, nem):
                w.record(time=t + 1, process=NEMESIS, type="info", f="start-partition-halves")
        if i == 200:
            for w in (h, nem):
                w.record(time=t + 1, process=NEMESIS, type="info", f="stop-partition-halves")
    t = 31 * S
    finals: list[tuple[int, str, int | None]] = [
        (1_000_000, "w0000-k0", value),
        (1_000_001, "w0000-k1", None),
    ]
    for p, key, final in finals:
        h.record(time=t, process=p, type="invoke", f="read", key=key, value=None, node="n1")
        h.record(time=t + MS, process=p, type="ok", f="read", key=key, value=final, node="n1")
    h.close()
    nem.close()


def job(wdir: Path, **kw: object) -> WindowJob:
    base = WindowResult(
        index=0, dir="windows/0000", prefix="w0000-", seed=11, start_s=4.0, length_s=30.0,
        wall_s=31.5,
    )  # fmt: skip
    outcome = RunOutcome(
        recovered=True, recovery_seconds=0.2, windows=[FaultWindow(10, 20, "partition-halves", 1)]
    )
    defaults: dict[str, object] = dict(
        base=base,
        window_dir=wdir,
        test=LabTest(scenario="mixed", seed=11, duration=30.0, store=wdir.parent.parent),
        outcome=outcome,
        error=None,
        rerun="nox -s soak -- --seed 7",
    )
    defaults.update(kw)
    return WindowJob(**defaults)  # type: ignore[arg-type]


def test_a_valid_window(tmp_path: Path) -> None:
    wdir = tmp_path / "soak" / "windows" / "0000"
    write_history(wdir)
    r = check_window(job(wdir))
    assert r.valid and r.status == "valid"
    assert r.verdicts == {"linearizable": "valid", "recovery": "valid"}
    assert r.ops == {
        "ok": 302,
        "compare_failed": 0,
        "fail": 0,
        "info": 0,
    }  # final reads included, as in chaos runs
    assert r.p99_ms == pytest.approx(400, rel=0.01)  # the fault's slow operations
    # Steady: after the window's first 5 s and before the fault, and from 5 s after it
    # stopped (25 s) on.
    assert r.steady_ops == 50 + 50
    assert r.steady_p99_ms == pytest.approx(2, rel=0.01)
    assert decode_hdr(r.ok_hdr).get_total_count() == 300
    assert (r.live_keys, r.live_bytes) == (1, len("w0000-k0") + len("150"))
    assert r.writes == 150
    assert r.recovery_s == 0.2
    assert r.faults == [{"fault": "partition-halves", "start": 10, "end": 20}]
    assert r.report is None and r.check_s > 0
    results = json.loads((wdir / "results.json").read_text())
    assert results["valid"] and results["rerun"] == "nox -s soak -- --seed 7"
    assert results["soak_window"] == {"index": 0, "prefix": "w0000-", "start_s": 4.0}
    config = json.loads((wdir / "config.json").read_text())
    assert config["soak_window"]["prefix"] == "w0000-"
    assert not (wdir / "report.html").exists()
    back = WindowResult.from_json(json.loads(json.dumps(r.to_json())))
    assert back == r


def test_an_invalid_window_gets_its_report(tmp_path: Path) -> None:
    wdir = tmp_path / "soak" / "windows" / "0000"
    write_history(wdir, bad_read=True)
    r = check_window(job(wdir))
    assert not r.valid and r.status == "invalid"
    assert r.verdicts["linearizable"] == "invalid"
    assert r.report == "windows/0000/report.html"
    assert (wdir / "report.html").is_file()
    assert (wdir / "counterexample.html").is_file()


def test_an_interrupted_window(tmp_path: Path) -> None:
    wdir = tmp_path / "soak" / "windows" / "0000"
    write_history(wdir)
    base = WindowResult(0, "windows/0000", "w0000-", 11, 4.0, 12.0, interrupted=True)
    r = check_window(job(wdir, base=base, outcome=None, error="interrupted", report="none"))
    assert r.interrupted and not r.valid and r.status == "interrupted"
    assert r.verdicts == {"linearizable": "valid", "recovery": "unknown"}
    assert any("interrupted" in e for e in r.errors)


def test_jobs_and_results_cross_process_boundaries(tmp_path: Path) -> None:
    j = job(tmp_path / "w")
    assert pickle.loads(pickle.dumps(j)) == j
    r = j.base
    assert pickle.loads(pickle.dumps(r)) == r


def test_histograms_round_trip() -> None:
    a = histogram([1 * MS] * 99 + [100 * MS])
    assert encode_hdr(histogram(())) == ""
    assert decode_hdr("").get_total_count() == 0
    back = decode_hdr(encode_hdr(a))
    assert back.get_total_count() == 100
    assert back.get_value_at_percentile(99) == a.get_value_at_percentile(99)
