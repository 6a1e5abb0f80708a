"""Node log lines worth a look: ERROR, CRITICAL and tracebacks, with a little context.

Each match becomes an excerpt of `CONTEXT` lines either side; overlapping excerpts merge.
Per log, at most `MAX_EXCERPTS` excerpts and `MAX_LINES` lines are kept (the counts of what
was left out are reported), so a node that logged a million errors cannot bloat the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

CONTEXT: Final = 3
MAX_EXCERPTS: Final = 10
MAX_LINES: Final = 120
MAX_LINE_CHARS: Final = 400
MAX_TRACEBACK: Final = 60
PATTERN: Final = re.compile(r"\b(ERROR|CRITICAL|FATAL)\b|^Traceback \(most recent call last\)")
WARNING: Final = re.compile(r"\bWARN(ING)?\b")


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    text: str
    match: bool


@dataclass
class LogExcerpts:
    """What one log file holds worth showing. ``path`` is relative to the run directory."""

    path: str
    lines: int = 0
    errors: int = 0
    warnings: int = 0
    excerpts: list[list[Line]] = field(default_factory=list)
    omitted: int = 0
    """Matching lines not shown because of the caps."""


def log_files(run_dir: Path) -> list[Path]:
    """The run's logs: ``nodes/*.log`` in node order, then ``lab.log``."""
    nodes = sorted((run_dir / "nodes").glob("*.log"), key=lambda p: (len(p.stem), p.stem))
    lab = run_dir / "lab.log"
    return [*nodes, *([lab] if lab.is_file() else [])]


def excerpts(path: Path, root: Path, *, context: int = CONTEXT) -> LogExcerpts:
    """Scan one log; ``root`` is what ``LogExcerpts.path`` is relative to."""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    out = LogExcerpts(path.relative_to(root).as_posix(), lines=len(text))
    hits = [i for i, line in enumerate(text) if PATTERN.search(line)]
    out.errors = len(hits)
    out.warnings = sum(1 for line in text if WARNING.search(line))
    spans: list[list[int]] = []
    for i in hits:
        lo, hi = max(0, i - context), min(len(text) - 1, _traceback_end(text, i) + context)
        if spans and lo <= spans[-1][1] + 1:
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            spans.append([lo, hi])
    shown_lines = 0
    hit_set = set(hits)
    shown_hits = 0
    for lo, hi in spans:
        if len(out.excerpts) >= MAX_EXCERPTS or shown_lines >= MAX_LINES:
            break
        hi = min(hi, lo + (MAX_LINES - shown_lines) - 1)
        block = [Line(n + 1, _clip(text[n]), n in hit_set) for n in range(lo, hi + 1)]
        out.excerpts.append(block)
        shown_lines += len(block)
        shown_hits += sum(1 for line in block if line.match)
    out.omitted = out.errors - shown_hits
    return out


def _traceback_end(text: list[str], i: int) -> int:
    """For a traceback header: the line of its final exception (bounded), else ``i``."""
    if not text[i].startswith("Traceback"):
        return i
    j = i + 1
    while j < len(text) and j - i < MAX_TRACEBACK and text[j][:1] in (" ", "\t"):
        j += 1
    return min(j, len(text) - 1)


def scan_logs(run_dir: Path) -> list[LogExcerpts]:
    """`excerpts` of every log of the run (logs with nothing to show are included, empty)."""
    return [excerpts(p, run_dir) for p in log_files(run_dir)]


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " …"
