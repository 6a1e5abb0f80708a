"""``aspen-lab export FILE --edn``."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli import main
from lab.history import parse_edn_history, read_history

ETCD = Path(__file__).parents[1] / "data/jepsen-etcd"


def test_export_edn_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "h.edn"
    assert main(["export", str(ETCD / "etcd_000.log"), "--edn", "-o", str(out)]) == 0
    assert parse_edn_history(out.read_text()).events == read_history(ETCD / "etcd_000.log").events


def test_export_edn_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "h.jsonl"
    src.write_text('{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1}\n')
    assert main(["export", str(src), "--edn"]) == 0
    assert capsys.readouterr().out == (
        '{:index 0, :process 0, :type :invoke, :f :write, :key "k", :value 1}\n'
    )


def test_export_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "h.jsonl"
    src.write_text('{"process": 0, "type": "invoke", "f": "write"}\n{oops\n')
    assert main(["export", str(src), "--edn"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"aspen-lab export: {src}:2: ") and "\n" not in err
    assert main(["export", str(tmp_path / "missing"), "--edn"]) == 2
