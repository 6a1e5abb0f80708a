"""``python -m aspen.sim``: replay summary, history/trace files, exit status, fault parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aspen.sim.__main__ import main
from aspen.sim.nemesis import FAULTS, parse_faults


def test_parse_faults() -> None:
    assert parse_faults("all") == FAULTS
    assert parse_faults("none") == ()
    assert parse_faults("crash, partition") == ("partition", "crash")
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults("crash,meteor")


def test_replay_prints_a_summary_and_writes_history_and_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hist, trace = tmp_path / "h.jsonl", tmp_path / "t.txt"
    argv = ["--seed", "5", "--steps", "300", "--nodes", "3", "--faults", "crash,partition"]
    status = main([*argv, "--history", str(hist), "--trace", str(trace)])
    out = capsys.readouterr().out
    assert status == 0
    assert "invariants:" in out and "OK" in out
    assert "replay: nox -s sim -- --seed 5 --steps 300 --nodes 3 --faults crash,partition" in out
    assert f"history: {hist}" in out
    lines = hist.read_text().splitlines()
    assert lines and all(json.loads(line)["index"] == i for i, line in enumerate(lines))
    assert "leader term" in trace.read_text()
    main(argv)  # the same run again, without files: the same trace
    digest = out.split("trace sha256 ")[1].split()[0]
    assert f"trace sha256 {digest}" in capsys.readouterr().out


def test_bad_arguments_exit_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--faults", "meteor"])
    assert "unknown fault" in capsys.readouterr().err


def test_bench_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench" / "sim.json"
    argv = ["--bench", "--bench-ms", "50", "--bench-clients", "16", "--bench-out", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    rows = report["batched"] + report["unbatched"]
    assert [r["nodes"] for r in rows] == [3, 5, 3, 5]
    assert all(r["committed_ops"] > 0 and r["messages"] > 0 for r in rows)
    assert "msgs/s" in capsys.readouterr().out
