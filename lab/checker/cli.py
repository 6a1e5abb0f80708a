"""``aspen-lab check FILE``: read a history, check it, print the verdict and a counterexample.

Exit status: 0 valid, 1 invalid, 2 unknown (budget exhausted, checker crashed) or unreadable
input (one line naming file and line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from lab.checker.check import check
from lab.checker.html import write_html
from lab.checker.models import MODELS, model_for
from lab.checker.result import Verdict
from lab.history.errors import HistoryError
from lab.history.formats import FORMATS, read_history

EXIT: dict[Verdict, int] = {Verdict.VALID: 0, Verdict.INVALID: 1, Verdict.UNKNOWN: 2}


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``check``'s arguments to its subparser."""
    parser.description = "Check a recorded history for linearizability."
    parser.add_argument("file", type=Path, help="the history (JSONL, EDN, Jepsen log, Porcupine)")
    parser.add_argument(
        "--model", choices=MODELS, help="register, kv or set (default: guessed from the history)"
    )
    parser.add_argument("--format", choices=FORMATS, help="input format (default: detected)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="time budget in seconds"
    )
    parser.add_argument("--html", type=Path, metavar="OUT", help="write an HTML timeline")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the result as JSON")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes (default: start in this one, hand off to one per CPU after 1 s)",
    )
    parser.add_argument(
        "--all",
        dest="fail_fast",
        action="store_false",
        help="check every partition even after one is invalid",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``check``; returns the exit status."""
    try:
        history = read_history(args.file, args.format)
        ops = history.operations()
    except HistoryError as exc:
        print(f"aspen-lab check: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"aspen-lab check: {args.file}: {exc}", file=sys.stderr)
        return 2
    model = model_for(args.model, history)
    result = check(model, ops, timeout=args.timeout, workers=args.workers, fail_fast=args.fail_fast)
    result = replace(result, source=str(args.file))
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    if args.html is not None:
        write_html(result, args.html)
    try:
        print(result.summary(), flush=True)
    except BrokenPipeError:  # `aspen-lab check ... | head`: the verdict is the exit status
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT[result.verdict]
