from __future__ import annotations

from pathlib import Path

import pytest

from lab.report.templating import (
    MISSING,
    environment,
    fmt_bytes,
    fmt_count,
    fmt_ms,
    fmt_rate,
    fmt_seconds,
    overall_status,
    write_atomic,
)


def test_number_formats() -> None:
    assert [fmt_count(12345), fmt_count(None)] == ["12,345", MISSING]
    assert fmt_rate(48.7) == "48.7" and fmt_rate(1234.56) == "1,234.6"
    assert [fmt_ms(0.8512), fmt_ms(36.063), fmt_ms(2001.919)] == ["0.85 ms", "36.1 ms", "2.00 s"]
    assert [fmt_seconds(0.0079), fmt_seconds(1.25), fmt_seconds(13.9), fmt_seconds(200)] == [
        "7.90 ms",
        "1.25 s",
        "13.9 s",
        "3 min 20 s",
    ]
    assert [fmt_bytes(576), fmt_bytes(1348), fmt_bytes(45064192)] == [
        "576 B",
        "1.3 KiB",
        "43.0 MiB",
    ]


@pytest.mark.parametrize(
    ("results", "status"),
    [
        ({"valid": True, "verdicts": {"linearizable": "valid", "recovery": "valid"}}, "valid"),
        ({"valid": False, "verdicts": {"linearizable": "invalid", "recovery": "valid"}}, "invalid"),
        ({"valid": False, "verdicts": {"linearizable": "unknown", "recovery": "valid"}}, "unknown"),
        ({"valid": False, "verdicts": {"set": "unknown", "recovery": "invalid"}}, "invalid"),
        ({"valid": False, "verdicts": {"linearizable": "valid"}}, "invalid"),
        ({"valid": True, "verdicts": {}}, "unknown"),
    ],
)
def test_overall_status(results: dict[str, object], status: str) -> None:
    assert overall_status(results) == status


def test_templates_fail_loudly_on_undefined_names(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ missing }}")
    with pytest.raises(Exception, match="missing"):
        environment(tmp_path).get_template("t.j2").render()
    with pytest.raises(FileNotFoundError):
        environment(tmp_path / "nowhere")


def test_write_atomic_leaves_no_temporary_files(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    write_atomic(out, "one")
    write_atomic(out, "two")
    assert out.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["report.html"]
