"""LoadConfig: the command line's settings as a checked record, and what results.json keeps."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lab.load import cli
from lab.load.config import LoadConfig, parse_ramp


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli.configure(p)
    return p.parse_args(argv)


def test_the_command_lines_defaults_are_the_records() -> None:
    assert LoadConfig.from_args(parse()) == LoadConfig()


def test_the_record_keeps_every_option_of_the_command_line() -> None:
    args = parse("--workloads", "A,C", "--mode", "open", "--store", "/tmp/s", "--nodes", "5")
    cfg = LoadConfig.from_args(args)
    assert cfg.to_json() == {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    assert [m.name for m in cfg.mixes()] == ["A", "C"]
    assert cfg.target_json() == {"db": "aspen", "nodes": 5, "fsync": "always"}


@pytest.mark.parametrize(
    "bad",
    [
        {"workloads": "A,Q"},
        {"records": 0},
        {"mode": "ramp", "ramp": "100:50"},
        {"mode": "sideways"},
        {"gate_p99": -1.0},
    ],
)
def test_a_bad_setting_is_refused_when_the_record_is_made(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LoadConfig(**bad)  # type: ignore[arg-type]


def test_endpoints_and_ramp() -> None:
    cfg = LoadConfig(endpoints=" http://a:1, ,http://b:2", mode="ramp", ramp="100:100:400")
    assert cfg.endpoint_list() == ["http://a:1", "http://b:2"]
    assert LoadConfig().endpoint_list() == []  # none given: a local cluster is started
    assert cfg.ramp_plan().rates() == [100, 200, 300, 400]
    ramp = parse_ramp("100:100:400", 2.0, 25.0)
    assert ramp.rates() == [100, 200, 300, 400] and ramp.p99_ms == 25.0
