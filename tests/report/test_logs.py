from __future__ import annotations

from pathlib import Path

from lab.report.logs import MAX_EXCERPTS, excerpts, log_files, scan_logs
from tests.report.conftest import RUNS, VALID


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fixture_logs_are_clean() -> None:
    logs = scan_logs(RUNS / VALID)
    assert [log.path for log in logs] == ["nodes/n1.log", "nodes/n2.log", "nodes/n3.log", "lab.log"]
    assert all(log.errors == 0 and not log.excerpts for log in logs)
    assert [log.lines for log in logs] == [18, 13, 24, 3]


def test_errors_come_with_context_and_nearby_ones_merge(tmp_path: Path) -> None:
    lines = [f"INFO line {i}" for i in range(30)]
    lines[5] = "n1 ERROR first"
    lines[8] = "n1 CRITICAL second"
    lines[25] = "n1 ERROR third"
    log = excerpts(write(tmp_path / "n1.log", lines), tmp_path, context=2)
    assert log.errors == 3 and log.omitted == 0
    assert [[line.number for line in block] for block in log.excerpts] == [
        [4, 5, 6, 7, 8, 9, 10, 11],
        [24, 25, 26, 27, 28],
    ]
    assert [line.number for block in log.excerpts for line in block if line.match] == [6, 9, 26]


def test_a_traceback_is_kept_whole(tmp_path: Path) -> None:
    lines = [
        "INFO before",
        "ERROR aspen.node: crashed",
        "Traceback (most recent call last):",
        *[f'  File "x.py", line {i}, in f' for i in range(8)],
        "ValueError: the end",
        "INFO after 1",
        "INFO after 2",
    ]
    log = excerpts(write(tmp_path / "n1.log", lines), tmp_path, context=1)
    (block,) = log.excerpts
    shown = [line.text for line in block]
    assert shown[0] == "INFO before" and "ValueError: the end" in shown
    assert shown[-1] == "INFO after 1"


def test_excerpts_are_capped(tmp_path: Path) -> None:
    lines = [f"ERROR number {i}" if i % 10 == 0 else "INFO" for i in range(1000)]
    log = excerpts(write(tmp_path / "n1.log", lines), tmp_path)
    assert log.errors == 100
    assert len(log.excerpts) == MAX_EXCERPTS
    assert log.omitted == 100 - MAX_EXCERPTS
    assert "WARNING" not in " ".join(line.text for block in log.excerpts for line in block)


def test_log_files_are_in_node_order_then_the_lab_log(tmp_path: Path) -> None:
    for name in ("n10", "n2", "n1"):
        write(tmp_path / "nodes" / f"{name}.log", ["INFO"])
    write(tmp_path / "lab.log", ["WARNING lab: slow"])
    assert [p.name for p in log_files(tmp_path)] == ["n1.log", "n2.log", "n10.log", "lab.log"]
    assert scan_logs(tmp_path)[-1].warnings == 1
