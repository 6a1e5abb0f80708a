from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli import main
from tests.report.conftest import STAMPS, VALID


@pytest.mark.usefixtures("stub_plots")
def test_report_rebuilds_a_run_report(valid_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(valid_run)]) == 0
    assert (valid_run / "report.html").is_file()
    assert capsys.readouterr().out.strip() == f"report: {valid_run / 'report.html'}"


@pytest.mark.usefixtures("stub_plots")
def test_report_with_index(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = store / "partition" / STAMPS[VALID]
    out = tmp_path / "site" / "index.html"
    code = main(["report", str(run), "--index", str(store), "--index-out", str(out)])
    assert code == 0
    assert out.is_file() and (run / "report.html").is_file()
    assert f"index:  {out}" in capsys.readouterr().out


def test_report_of_a_non_run_directory_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "has no results.json" in capsys.readouterr().err


def test_report_of_a_truncated_load_run_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "results.json").write_text('{"kind": "aspen-load"}')
    assert main(["report", str(tmp_path)]) == 2
    assert "aspen-lab report:" in capsys.readouterr().err


def test_report_of_a_soak_keeps_the_soak_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.soak.synth import MIB, resource_rows, window, write_soak_dir

    soak = tmp_path / "soak" / "20260101T000000"
    write_soak_dir(soak, [window(i, p99_ms=20) for i in range(3)],
                   resource_rows(200, rss=lambda n, t: 50 * MIB))  # fmt: skip
    assert main(["report", str(soak)]) == 0
    assert 'id="soak-status"' in (soak / "report.html").read_text()
