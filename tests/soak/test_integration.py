"""End to end: a short soak (two 15 s windows) against a real 3-node local cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.cli import main
from lab.store import read_json

pytestmark = pytest.mark.integration

NODE_CHECKS = ("rss_slope", "fd_growth", "thread_growth", "data_dir_growth", "data_dir_size")


def test_a_short_soak_is_valid_with_every_leak_check(tmp_path: Path) -> None:
    code = main(
        ["soak", "--duration", "30s", "--window", "15s", "--seed", "3",
         "--store", str(tmp_path), "--quiet"]
    )  # fmt: skip
    soak = (tmp_path / "soak" / "latest").resolve()
    res = read_json(soak / "results.json")
    assert code == 0, (res["verdicts"], res["errors"], res["leaks"]["checks"])
    assert res["valid"] and res["complete"] and not res["interrupted"]
    assert res["verdicts"] == {"windows": "valid", "leaks": "valid"}
    assert res["windows_checked"] == res["windows_planned"] == 2

    # Every leak check, for every node, and the soak-wide drift between the two windows.
    got = {(c["name"], c["node"]) for c in res["leaks"]["checks"]}
    nodes = ("n1", "n2", "n3")
    assert {(n, node) for n in NODE_CHECKS for node in nodes} <= got
    assert ("p99_drift", None) in got
    assert res["leaks"]["fits"]["p99"]["basis"] == "window"

    # Each window: checked on its own, its own keys, one fault, traffic and a verdict.
    for i, w in enumerate(res["windows"]):
        assert w["status"] == "valid", w
        assert w["ops"]["ok"] > 200 and w["steady_ops"] > 50
        assert len(w["faults"]) == 1
        wdir = soak / w["dir"]
        assert read_json(wdir / "results.json")["valid"]
        keys = {
            json.loads(line)["key"]
            for line in (wdir / "history.jsonl").read_text().splitlines()
            if json.loads(line)["process"] != "nemesis"
        }
        assert keys and all(k.startswith(f"w{i:04d}-k") for k in keys)

    # One sampler across the whole soak: one file covering both windows, time increasing.
    rows = [json.loads(line) for line in (soak / "resources.jsonl").read_text().splitlines()]
    assert {r["node"] for r in rows} == set(nodes)
    assert {r.get("window") for r in rows} >= {0, 1}
    times = [r["time"] for r in rows]
    assert times == sorted(times)
    assert (times[-1] - times[0]) / 1e9 > 28

    html = (soak / "report.html").read_text()
    assert html.count("<svg") >= 6 and 'id="soak-status">VALID<' in html
    assert sorted(p.name for p in (soak / "nodes").glob("*.log")) == ["n1.log", "n2.log", "n3.log"]
    assert "fault" in (soak / "lab.log").read_text()
