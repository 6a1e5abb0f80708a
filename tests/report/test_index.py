from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.report.html import write_run_report
from lab.report.index import find_runs, write_index
from lab.report.templating import fmt_count, fmt_ms, fmt_rate
from tests.report.conftest import STAMPS, VALID, results_of
from tests.report.page import Page, text


def rows(index: Path) -> list[dict[str, str]]:
    page = Page(index.read_text(encoding="utf-8"))
    out = []
    for tr in page.with_attr("data-run"):
        cells = {
            td.attrs["data-metric"]: text(td)
            for td in tr.find_all("td")
            if "data-metric" in td.attrs
        }
        links = [a.attrs["href"] for a in tr.find_all("a")]
        out.append(
            {
                "run": tr.attrs["data-run"],
                "status": tr.attrs["data-status"],
                **cells,
                "link": links[0] if links else "",
            }
        )
    return out


@pytest.mark.usefixtures("stub_plots")
def test_index_lists_runs_newest_first_with_status_and_numbers(store: Path, tmp_path: Path) -> None:
    for stamp in STAMPS.values():
        write_run_report(store / "partition" / stamp)
    out = write_index(store, tmp_path / "reports" / "index.html")
    listed = rows(out)
    assert [r["run"] for r in listed] == [
        f"partition/{STAMPS['stale-reads-invalid']}",
        f"partition/{STAMPS[VALID]}",
    ]
    assert [r["status"] for r in listed] == ["invalid", "valid"]
    for r in listed:
        results = results_of(store / r["run"])
        assert r["ops.total.ok"] == fmt_count(results["ops"]["total"]["ok"])
        assert r["throughput.ok_per_s"] == fmt_rate(results["throughput"]["ok_per_s"])
        assert r["latency_ms.ok.p99"] == fmt_ms(results["latency_ms"]["ok"]["p99"])
        assert (out.parent / r["link"]).resolve() == (store / r["run"] / "report.html").resolve()
    tally = Page(out.read_text()).with_attr("data-count")
    assert {e.attrs["data-count"]: text(e) for e in tally} == {
        "valid": "1 valid",
        "invalid": "1 invalid",
        "unknown": "0 unknown",
        "interrupted": "0 interrupted",
    }


def test_latest_links_are_skipped(store: Path) -> None:
    runs = find_runs(store)
    assert [r.name for r in runs] == [STAMPS["stale-reads-invalid"], STAMPS[VALID]]
    assert all(not r.is_symlink() for r in runs)


def test_runs_without_a_report_or_readable_results_are_still_listed(
    store: Path, tmp_path: Path
) -> None:
    broken = store / "kill" / "20261201T000000"
    broken.mkdir(parents=True)
    (broken / "results.json").write_text("{not json")
    listed = rows(write_index(store, tmp_path / "index.html"))
    assert listed[0]["run"] == "kill/20261201T000000" and listed[0]["status"] == "unknown"
    assert all(r["link"] == "" for r in listed), "no report.html written yet"


def test_same_second_runs_sort_by_suffix_and_load_runs_are_listed(
    store: Path, tmp_path: Path
) -> None:
    for suffix in ("", "-2", "-10"):
        run = store / "partition" / f"20261202T000000{suffix}"
        run.mkdir()
        (run / "results.json").write_text(
            (store / "partition" / STAMPS[VALID] / "results.json").read_text()
        )
    load = store / "load" / "20261203T000000"
    load.mkdir(parents=True)
    (load / "results.json").write_text(
        json.dumps(
            {
                "kind": "aspen-load",
                "workloads": {
                    "A": {
                        "ok": 900,
                        "duration_s": 10,
                        "throughput": 90.0,
                        "latency_ms": {"p99": 4.5},
                    }
                },
                "gates": {"passed": False},
            }
        )
    )
    listed = rows(write_index(store, tmp_path / "index.html"))
    assert [r["run"] for r in listed][:4] == [
        "load/20261203T000000",
        "partition/20261202T000000-10",
        "partition/20261202T000000-2",
        "partition/20261202T000000",
    ]
    assert listed[0]["status"] == "invalid" and listed[0]["ops.total.ok"] == "900"
    assert (
        "gates failed"
        in Page((tmp_path / "index.html").read_text())
        .with_attr("data-run", "load/20261203T000000")[0]
        .text
    )


def test_an_empty_store_gives_an_empty_index(tmp_path: Path) -> None:
    out = write_index(tmp_path / "nothing-here", tmp_path / "index.html")
    assert "No runs under" in out.read_text()
