"""``aspen-lab check``: exit codes 0/1/2, JSON and HTML outputs, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.cli import main
from tests.checker.conftest import ETCD


def test_valid_is_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ETCD / "etcd_002.log")]) == 0
    assert capsys.readouterr().out.startswith("VALID")


def test_invalid_is_1_with_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    js, page = tmp_path / "r.json", tmp_path / "r.html"
    args = ["check", str(ETCD / "etcd_000.log"), "--json", str(js), "--html", str(page)]
    assert main([*args, "--model", "register", "--format", "jepsen-log"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INVALID") and "cannot be placed" in out
    assert json.loads(js.read_text())["verdict"] == "invalid"
    assert "<svg" in page.read_text()


def test_unknown_is_2(tmp_path: Path) -> None:
    h = tmp_path / "h.jsonl"
    lines = [
        {"process": i, "type": t, "f": "write", "value": i} for i in range(18) for t in ("invoke",)
    ]
    lines += [{"process": i, "type": "ok", "f": "write", "value": i} for i in range(18)]
    lines += [
        {"process": 99, "type": "invoke", "f": "read", "value": None},
        {"process": 99, "type": "ok", "f": "read", "value": 0},
        {"process": 99, "type": "invoke", "f": "read", "value": None},
        {"process": 99, "type": "ok", "f": "read", "value": 1},
    ]
    h.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert main(["check", str(h), "--timeout", "0.2"]) == 2


def test_unreadable_is_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = tmp_path / "h.edn"
    h.write_text("{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0 :type\n")
    assert main(["check", str(h)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{h}:2:1: " in err
    assert main(["check", str(tmp_path / "nope.jsonl")]) == 2
