from __future__ import annotations

import datetime as dt
from pathlib import Path

from lab.store import list_runs, new_run_dir, read_json, write_json

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_run_dirs_are_unique_and_latest_follows(tmp_path: Path) -> None:
    a = new_run_dir("partition", tmp_path, T0)
    b = new_run_dir("partition", tmp_path, T0)
    assert a != b and a.name == "20260102T030405"
    assert (tmp_path / "partition" / "latest").resolve() == b.resolve()


def test_json_round_trip_and_listing_newest_first(tmp_path: Path) -> None:
    old = new_run_dir("kill-all", tmp_path, T0)
    new = new_run_dir("partition", tmp_path, T0 + dt.timedelta(hours=1))
    for run in (old, new):
        write_json(run / "config.json", {"seed": 7})
    assert read_json(old / "config.json") == {"seed": 7}
    assert list_runs(tmp_path) == [new, old]
