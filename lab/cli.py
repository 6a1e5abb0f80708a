"""``aspen-lab``: the lab's command line, one subcommand per module.

Each module in ``COMMANDS`` has ``configure(parser)`` and ``run(args) -> int``; only the chosen
one is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from aspen.version import VersionAction

COMMANDS: dict[str, tuple[str, str]] = {
    "chaos": ("lab.chaos.cli", "run chaos scenarios against a cluster and check what clients saw"),
    "check": ("lab.checker.cli", "check any recorded history for linearizability"),
    "export": ("lab.history.cli", "convert a JSONL history to Jepsen's EDN"),
    "report": ("lab.report.cli", "rebuild a run's HTML report (and the index) from its files"),
    "load": ("lab.load.cli", "YCSB-style load with baselines and sign-off gates"),
    "soak": ("lab.soak.cli", "hours of steady load and faults, watched for leaks and drift"),
    "toxiproxy": ("lab.toxiproxy.cli", "run the Toxiproxy-compatible server standalone"),
    "gc": ("lab.gc", "remove processes and containers that crashed runs left behind"),
}
"""Subcommand -> (module with ``configure`` and ``run``, one line of help)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="aspen-lab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((arg for arg in args_list if not arg.startswith("-")), None)
    for name, (module_name, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.configure(sub)
            sub.set_defaults(run=module.run)
    args = parser.parse_args(args_list)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
