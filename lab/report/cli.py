"""``aspen-lab report DIR``: rebuild a run's report.html from its stored files.

With ``--index STORE`` it also rebuilds the index of every run in STORE (``--index-out``,
default ``reports/index.html``). Exit status: 0 when the report (and index) were written, 2
when DIR is not a run directory. It does not depend on the run's verdict: the report says it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jinja2

from lab.report.index import DEFAULT_OUT


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.add_argument("run_dir", metavar="DIR", type=Path, help="a run directory")
    parser.add_argument(
        "--index",
        metavar="STORE",
        type=Path,
        default=None,
        help="also rebuild the index of every run under this store root",
    )
    parser.add_argument(
        "--index-out",
        metavar="PATH",
        type=Path,
        default=DEFAULT_OUT,
        help="where the index goes",
    )


def _write(run_dir: Path) -> Path:
    """The report in the layout of the run's kind: a soak's or a load run's own page, else a
    chaos run's (the kind is what results.json says)."""
    import json

    kind = json.loads((run_dir / "results.json").read_text(encoding="utf-8")).get("kind")
    if kind == "aspen-soak":
        from lab.soak.report import write_soak_report

        return write_soak_report(run_dir)
    if kind == "aspen-load":
        from lab.load.report import write_report

        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        return write_report(results, run_dir / "report.html")
    from lab.report.html import write_run_report

    return write_run_report(run_dir)


def run(args: argparse.Namespace) -> int:
    from lab.report.index import write_index

    run_dir: Path = args.run_dir
    if not (run_dir / "results.json").is_file():
        print(
            f"aspen-lab report: {run_dir} has no results.json (not a run directory)",
            file=sys.stderr,
        )
        return 2
    try:
        path = _write(run_dir)
    except (ValueError, KeyError, TypeError, jinja2.UndefinedError) as e:  # not ours, or cut short
        print(f"aspen-lab report: {e}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    if args.index is not None:
        print(f"index:  {write_index(args.index, args.index_out)}")
    return 0
