from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from lab.history.op import OUTCOMES
from lab.report.html import write_run_report
from lab.report.run import load_run
from lab.report.templating import fmt_count, fmt_ms, fmt_rate, fmt_seconds
from tests.report.conftest import INVALID, PLOT_IDS, VALID, results_of
from tests.report.page import Page, text
from tests.report.synth import make_run


def page_of(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", [VALID, INVALID])
def test_report_is_written_next_to_the_run(rendered: dict[str, Path], name: str) -> None:
    path = rendered[name]
    assert path.name == "report.html" and path.parent.name == name
    assert path.stat().st_size > 50_000
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("name", [VALID, INVALID])
def test_op_counts_match_results_json(rendered: dict[str, Path], name: str) -> None:
    page = page_of(rendered[name])
    ops = results_of(rendered[name].parent)["ops"]
    for f, counts in ops["by_f"].items():
        for outcome in OUTCOMES:
            shown = page.metric(f"ops.{f}.{outcome}")
            assert [text(e) for e in shown] == [fmt_count(counts.get(outcome, 0))]
        total = sum(counts.values())
        assert [text(e) for e in page.metric(f"ops.{f}.total")] == [fmt_count(total)]
    for outcome in OUTCOMES:
        for el in page.metric(f"ops.total.{outcome}"):
            assert fmt_count(ops["total"].get(outcome, 0)) in text(el)


@pytest.mark.parametrize("name", [VALID, INVALID])
def test_throughput_latency_and_recovery_match_results_json(
    rendered: dict[str, Path], name: str
) -> None:
    page = page_of(rendered[name])
    results = results_of(rendered[name].parent)
    for key in ("ok_per_s", "all_per_s"):
        for el in page.metric(f"throughput.{key}"):
            assert fmt_rate(results["throughput"][key]) in text(el)
            assert float(el.attrs.get("data-value", results["throughput"][key])) == pytest.approx(
                results["throughput"][key]
            )
    for kind in ("ok", "all"):
        for q in ("p50", "p95", "p99", "p99.9", "max", "mean"):
            (cell,) = [e for e in page.metric(f"latency_ms.{kind}.{q}") if e.tag == "td"]
            assert float(cell.attrs["data-value"]) == results["latency_ms"][kind][q]
            assert text(cell) == fmt_ms(results["latency_ms"][kind][q])
    p99_card = [e for e in page.metric("latency_ms.ok.p99") if "card" in e.classes]
    assert len(p99_card) == 1
    assert fmt_ms(results["latency_ms"]["ok"]["p99"]) in text(p99_card[0])
    for el in page.metric("recovery_seconds"):
        assert float(el.attrs["data-value"]) == results["recovery_seconds"]
        assert fmt_seconds(results["recovery_seconds"]) in text(el)


@pytest.mark.parametrize("name", [VALID, INVALID])
def test_verdicts_and_overall_status(rendered: dict[str, Path], name: str) -> None:
    page = page_of(rendered[name])
    results = results_of(rendered[name].parent)
    expected = "valid" if results["valid"] else "invalid"
    banner = page.by_id("status")
    assert banner.attrs["data-status"] == expected and expected in banner.classes
    assert text(banner).startswith(expected.upper())
    chips = {e.attrs["data-checker"]: e.attrs["data-verdict"] for e in page.with_class("verdict")}
    assert chips == results["verdicts"]


@pytest.mark.parametrize("name", [VALID, INVALID])
def test_every_plot_is_embedded_as_inline_svg(rendered: dict[str, Path], name: str) -> None:
    page = page_of(rendered[name])
    figures = page.with_class("plot")
    assert [f.attrs["id"] for f in figures] == list(PLOT_IDS)
    for fig in figures:
        svgs = fig.find_all("svg")
        assert len(svgs) == 1, fig.attrs["id"]
        assert svgs[0].attrs["viewbox"], "an SVG without a viewBox does not scale"
    raw = rendered[name].read_text(encoding="utf-8")
    assert "<?xml" not in raw and "<metadata>" not in raw


@pytest.mark.parametrize("name", [VALID, INVALID])
def test_time_plots_number_the_fault_and_the_key_names_it(
    rendered: dict[str, Path], name: str
) -> None:
    page = page_of(rendered[name])
    fault = results_of(rendered[name].parent)["faults"][0]["fault"]
    for plot_id in ("plot-throughput", "plot-latency-raw", "plot-latency-quantiles"):
        figure = page.by_id(plot_id)
        (number,) = [g for g in figure.find_all("g") if g.attrs.get("id") == "fault-label-1"]
        assert text(number).strip() == "1", plot_id
        (key,) = [e for e in figure.find_all("div") if "fault-key" in e.attrs.get("class", "")]
        assert "1 " + fault in " ".join(text(key).split()), text(key)
    (row,) = page.by_id("faults-table").find_all("tr")[1:]
    assert [text(td) for td in row.find_all("td")][:2] == ["1", fault]


@pytest.mark.parametrize("name", [VALID, INVALID])
def test_page_is_self_contained(rendered: dict[str, Path], name: str) -> None:
    raw = rendered[name].read_text(encoding="utf-8")
    page = Page(raw)
    assert not page.with_attr("src"), "no external images or scripts"
    assert not [e for e in page.elements if e.tag == "link"], "no external stylesheets"
    for el in page.with_attr("href"):
        href = el.attrs["href"]
        assert not re.match(r"^([a-z]+:)?//", href), href
        if not href.startswith("#"):
            assert (rendered[name].parent / href).exists(), href
    for el in page.with_attr("xlink:href"):  # inside the SVGs: rasterized points, markers
        assert el.attrs["xlink:href"].startswith(("data:image/png;base64,", "#"))
    assert page.with_attr("xlink:href"), "the scatter is an embedded PNG inside its SVG"
    assert "@import" not in raw and "url(http" not in raw


def test_rerun_command_and_parameters_are_shown(rendered: dict[str, Path]) -> None:
    page = page_of(rendered[INVALID])
    config = results_of(rendered[INVALID].parent)
    rerun = page.by_id("rerun-command")
    assert text(rerun) == config["rerun"]
    assert page.with_attr("data-target", "rerun-command"), "a copy button"
    params = {
        text(tr.find_all("th")[0]): text(tr.find_all("td")[0])
        for tr in page.by_id("params").find_all("tr")
    }
    assert params["scenario"] == "partition" and params["seed"] == "5"
    assert params["nodes"] == "3" and params["duration"] == "12 s"
    assert params["runtime"] == "local" and params["faults"] == "partition-isolate-leader"
    assert "stale_reads=true" in params["node options"]


def test_valid_run_has_no_counterexample_section(rendered: dict[str, Path]) -> None:
    page = page_of(rendered[VALID])
    assert not [e for e in page.elements if e.attrs.get("id") == "counterexample"]
    assert "VALID" in text(page.by_id("status"))


def test_invalid_run_shows_the_counterexample(rendered: dict[str, Path]) -> None:
    page = page_of(rendered[INVALID])
    part = results_of(rendered[INVALID].parent)["checkers"]["linearizable"]["invalid"][0]
    section = page.by_id("counterexample")
    (message,) = [e for e in section.find_all("p") if e.attrs.get("data-role") == "message"]
    assert text(message) == part["message"]
    rows = page.with_attr("data-op")
    assert sorted(int(r.attrs["data-op"]) for r in rows) == sorted(
        op["id"] for op in part["operations"]
    )
    (culprit,) = [r for r in rows if "role-culprit" in r.classes]
    assert culprit.attrs["data-op"] == str(part["culprit"])
    assert "read() -> 1000000029" in text(culprit)
    assert len([r for r in rows if "role-window" in r.classes]) == len(part["window"]) - 1
    timeline = page.by_id("timeline-1")
    assert len(timeline.find_all("svg")) == 1, "the checker's timeline, redrawn from the JSON"
    raw_labels = [text(t) for t in page.by_id("plot-latency-raw").find_all("text")]
    assert any("cannot place" in label for label in raw_labels), "culprit marked on the plot"


@pytest.mark.usefixtures("stub_plots")
def test_counterexample_html_is_embedded_when_the_checker_wrote_one(invalid_run: Path) -> None:
    page_html = "<!DOCTYPE html><html><body><h1>checker says: k4 & co</h1></body></html>"
    (invalid_run / "counterexample.html").write_text(page_html)
    page = page_of(write_run_report(invalid_run))
    frame = page.by_id("checker-html")
    assert frame.tag == "iframe" and frame.attrs["srcdoc"] == page_html
    assert "sandbox" in frame.attrs
    assert page.with_attr("href", "counterexample.html")
    assert not [e for e in page.elements if e.attrs.get("id", "").startswith("timeline-")]


@pytest.mark.usefixtures("stub_plots")
def test_log_errors_are_excerpted_with_context(valid_run: Path) -> None:
    log = valid_run / "nodes" / "n2.log"
    lines = log.read_text().splitlines()
    lines[6:6] = [
        "2026-11-25 03:28:35,000 n2 ERROR aspen.node: apply failed <index 7>",
        "Traceback (most recent call last):",
        '  File "aspen/node/driver.py", line 10, in step',
        "RuntimeError: boom",
    ]
    log.write_text("\n".join(lines) + "\n")
    page = page_of(write_run_report(valid_run))
    (block,) = page.with_attr("data-log", "nodes/n2.log")
    excerpt = text(block)
    assert "apply failed <index 7>" in excerpt and "RuntimeError: boom" in excerpt
    assert lines[5].split(" n2 ")[1] in excerpt, "context before the error"
    hits = [text(e) for e in block.find_all("span") if "hit" in e.classes]
    assert hits == [
        "2026-11-25 03:28:35,000 n2 ERROR aspen.node: apply failed <index 7>",
        "Traceback (most recent call last):",
    ]
    assert not page.with_attr("data-log", "nodes/n1.log"), "clean logs get no excerpt"


@pytest.mark.usefixtures("stub_plots")
def test_run_errors_and_unrecovered_cluster_are_shown(tmp_path: Path) -> None:
    run = make_run(
        tmp_path / "run",
        results={
            "valid": False,
            "verdicts": {"linearizable": "unknown", "recovery": "invalid"},
            "recovery_seconds": None,
            "errors": ["heal of partition failed: OSError('toxiproxy gone')"],
        },
    )
    page = page_of(write_run_report(run))
    assert page.by_id("status").attrs["data-status"] == "invalid"
    assert "OSError('toxiproxy gone')" in text(page.by_id("errors"))
    assert "did not recover" in text(page.by_id("recovery"))
    assert page.by_id("recovery").attrs["data-value"] == ""


@pytest.mark.usefixtures("stub_plots")
def test_unknown_verdict_gives_an_amber_banner(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", results={"verdicts": {"linearizable": "unknown"}})
    page = page_of(write_run_report(run))
    assert page.by_id("status").attrs["data-status"] == "unknown"
    assert "UNKNOWN" in text(page.by_id("status"))


def test_a_run_with_only_results_json_still_gets_a_report(valid_run: Path) -> None:
    for p in valid_run.iterdir():
        if p.name != "results.json":
            if p.is_dir():
                for child in p.iterdir():
                    child.unlink()
                p.rmdir()
            else:
                p.unlink()
    page = page_of(write_run_report(valid_run))
    assert [f.attrs["id"] for f in page.with_class("plot")] == list(PLOT_IDS)
    notes = text(page.by_id("notes"))
    assert "history.jsonl is missing" in notes and "config.json is missing" in notes
    assert text(page.by_id("rerun-command")) == results_of(valid_run)["rerun"]


@pytest.mark.usefixtures("stub_plots")
def test_report_escapes_what_it_did_not_write(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", results={"errors": ["<script>alert(1)</script>"]})
    raw = write_run_report(run).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in raw
    assert html.escape("<script>alert(1)</script>") in raw


def test_load_runs_are_refused(tmp_path: Path) -> None:
    run = tmp_path / "load"
    run.mkdir()
    (run / "results.json").write_text('{"kind": "aspen-load", "workloads": {}}')
    with pytest.raises(ValueError, match="load run"):
        write_run_report(run)
    assert not (run / "report.html").exists()


def test_missing_results_json_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_run_report(tmp_path)


def test_an_unsafe_run_says_so_and_that_invalid_is_expected(rendered: dict[str, Path]) -> None:
    unsafe = page_of(rendered[INVALID])
    assert "UNSAFE MODE: --stale-reads" in text(unsafe.by_id("unsafe"))
    banner = " ".join(text(unsafe.by_id("status")).split())
    assert "an invalid verdict is the expected outcome" in banner
    safe = page_of(rendered[VALID])
    assert "UNSAFE" not in " ".join(text(safe.by_id("status")).split())


def test_compare_failures_are_counted_apart(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    ops = results_of(run)["ops"]
    assert ops["by_f"]["cas"]["compare_failed"] > 0 and ops["by_f"]["cas"]["fail"] == 0
    page = page_of(write_run_report(run))
    [cell] = page.metric("ops.cas.compare_failed")
    assert text(cell) == fmt_count(ops["by_f"]["cas"]["compare_failed"])
    assert "compare failed" in text(page.by_id("ops-table"))
    # The events behind the counts: compare failures are ok cas with the value false.
    frame = load_run(run).ops
    assert (frame["type"] == "compare_failed").sum() == ops["total"]["compare_failed"]
