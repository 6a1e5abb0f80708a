"""``aspen-lab soak``: arguments, configuration, summary and exit codes (no cluster)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

import pytest

from lab.cli import main
from lab.soak import cli
from lab.soak import run as soak_run
from lab.soak.config import SoakConfig
from lab.soak.window import WindowResult
from lab.store import read_json
from tests.lab.signalled import EXIT_CODES, lab_processes, signal_lab_command
from tests.soak.synth import resource_rows, results_of, window


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli.configure(p)
    return p.parse_args(argv)


def test_defaults_are_ci_sized() -> None:
    args = parse()
    assert (args.duration, args.window, args.scenario, args.rate) == (120.0, 60.0, "mixed", 100.0)
    assert args.nodes == 3 and args.seed is None


def test_durations_on_the_command_line() -> None:
    args = parse("--duration", "8h", "--window", "90s", "--warmup", "10m")
    assert (args.duration, args.window, args.warmup) == (28800.0, 90.0, 600.0)


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        parse("--duration", "5 parsecs")
    assert e.value.code == 2
    assert "not a duration" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("--scenario", "kill-all")  # a set workload: not a soak scenario


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["soak", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--duration" in out and "--window" in out and "--scenario" in out


def test_the_rerun_command_gives_back_the_same_soak(tmp_path: Path) -> None:
    cfg = SoakConfig(
        duration=5400, window=45, scenario="partition", seed=9, rate=150, concurrency=3,
        faults=("partition-halves",), store=tmp_path,
    )  # fmt: skip
    argv = shlex.split(cfg.rerun_command())
    assert argv[:4] == ["nox", "-s", "soak", "--"]
    back = cli.config_from_args(parse(*argv[4:], "--store", str(tmp_path)))
    assert back == cfg


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"scenario": "kill-all"}, "set workload"),
        ({"scenario": "nope"}, "unknown scenario"),
        ({"faults": ("kill",)}, "has no faults"),
        ({"duration": 0}, "must be > 0"),
        ({"rate": -1}, "rate"),
        ({"window_reports": "some"}, "window_reports"),
    ],
)
def test_bad_configurations(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SoakConfig(**kw)


def test_an_unknown_fault_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse("--fault", "no-such-fault", "--quiet")) == 2
    assert "has no faults" in capsys.readouterr().err


def fake_results(**kw: Any) -> dict[str, Any]:
    windows = kw.pop("windows", [window(0), window(1)])
    return results_of(windows, resource_rows(120), **kw)


@pytest.mark.parametrize(
    ("results", "code"),
    [
        (fake_results(), 0),
        (fake_results(windows=[window(0), window(1, errors=["heal failed"])]), 1),
        (fake_results(interrupted=True, planned=4), 130),
        (
            fake_results(
                interrupted=True,
                windows=[window(0, verdicts={"linearizable": "invalid", "recovery": "valid"})],
            ),
            1,
        ),
    ],
)
def test_exit_codes(
    results: dict[str, Any],
    code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[SoakConfig] = []

    def fake_run_soak(
        cfg: SoakConfig, hooks: Any = None, request: Any = None
    ) -> tuple[Path, dict[str, Any]]:
        seen.append(cfg)
        for w in results["windows"]:
            hooks.window(WindowResult.from_json(w))
        return tmp_path, results

    monkeypatch.setattr(soak_run, "run_soak", fake_run_soak)
    assert cli.run(parse("--duration", "2m", "--seed", "4", "--quiet")) == code
    out = capsys.readouterr().out
    assert seen[0].seed == 4 and seen[0].duration == 120
    assert "2 windows of 60s" in out
    assert "window    0" in out
    assert "rss_slope" in out and "p99_drift" in out
    assert ("VALID" if code == 0 else "NOT VALID" if code == 1 else "interrupted") in out
    assert "rerun with: nox -s soak --" in out


@pytest.mark.integration
@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT", "SIGINT")])
def test_a_signalled_soak_stops_its_cluster_and_writes_its_report(
    tmp_path: Path, signals: tuple[str, ...]
) -> None:
    signal_a_soak(tmp_path, signals)


def signal_a_soak(
    tmp_path: Path,
    signals: tuple[str, ...],
    *extra: str,
    startup_s: float = 90,
    cwd: Path | None = None,
) -> Path:
    """Start ``aspen-lab soak`` (with ``extra`` arguments), send ``signals`` in its first
    window, and check what it left: no process, results marked interrupted, a report.
    Returns the soak directory (callers check what else their runtime might leave)."""
    store = tmp_path / "store"
    args = ["soak", "--duration", "10m", "--window", "60s", "--seed", "3", "--quiet",
            "--store", str(store), *extra]  # fmt: skip

    def running() -> bool:
        h = next(store.glob("soak/2*/windows/0000/history.jsonl"), None)
        return h is not None and h.stat().st_size > 2000

    ended = signal_lab_command(args, signals, running, startup_s=startup_s, cwd=cwd or tmp_path)
    assert ended.returncode == EXIT_CODES[signals[0]], ended.output
    assert lab_processes(str(store)) == [], "nodes left running"
    soak_dir = next(store.glob("soak/2*"))
    res = read_json(soak_dir / "results.json")
    assert res["interrupted"] and not res["complete"], res["errors"]
    assert res["windows_planned"] == 10 and res["windows_checked"] <= 1
    abandoned = [e for e in res["errors"] if e.startswith("checks abandoned")]
    assert len(abandoned) == len(signals) - 1, res["errors"]
    html = (soak_dir / "report.html").read_text()
    assert 'id="soak-status">INTERRUPTED<' in html
    return soak_dir
