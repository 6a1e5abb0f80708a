"""``aspen-lab``: the lab's command line, one subcommand per module.

Each module in ``COMMANDS`` has ``configure(parser)`` and ``run(args) -> int``; only the chosen
one is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, str] = {
    "chaos": "lab.chaos.cli",
    "gc": "lab.gc",
    "check": "lab.checker.cli",
    "export": "lab.history.cli",
    "report": "lab.report.cli",
    "load": "lab.load.cli",
    "toxiproxy": "lab.toxiproxy.cli",
    "soak": "lab.soak.cli",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="aspen-lab", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((arg for arg in args_list if not arg.startswith("-")), None)
    for name, module_name in COMMANDS.items():
        sub = commands.add_parser(name, help=f"see `aspen-lab {name} --help`")
        if name == chosen:
            module = importlib.import_module(module_name)
            module.configure(sub)
            sub.set_defaults(run=module.run)
    args = parser.parse_args(args_list)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
