"""``aspen-lab export FILE --edn [-o OUT]``: a history in Jepsen's EDN form.

Reads any supported format (see `lab.history.formats`) and writes one EDN map per line, so
Jepsen's own tools (Knossos, Elle) can read what the lab recorded. Exit status 2 when the input
cannot be read, with one line naming file and line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.history.edn import to_edn
from lab.history.errors import HistoryError
from lab.history.formats import FORMATS, read_history


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``export``'s arguments to its subparser."""
    parser.description = "Convert a history to another format."
    parser.add_argument("file", type=Path, help="the history to read")
    parser.add_argument(
        "--edn", action="store_true", required=True, help="write Jepsen EDN (the only target)"
    )
    parser.add_argument("--format", choices=FORMATS, help="input format (default: detected)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT", help="file (default stdout)")


def run(args: argparse.Namespace) -> int:
    """Run ``export``; returns the exit status."""
    try:
        history = read_history(args.file, args.format)
    except HistoryError as exc:
        print(f"aspen-lab export: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"aspen-lab export: {args.file}: {exc}", file=sys.stderr)
        return 2
    text = to_edn(history.events)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0
