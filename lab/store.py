"""Where runs live: ``store/<scenario>/<timestamp>/`` with a ``latest`` link per scenario.

A run directory holds everything needed to understand and rerun it: ``config.json`` (seed
included), ``history.jsonl``, ``nemesis.jsonl``, ``resources.jsonl``, ``nodes/*.log``,
``results.json`` and ``report.html``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path(os.environ.get("ASPEN_LAB_STORE", "store"))


def new_run_dir(scenario: str, root: Path = DEFAULT_ROOT, now: dt.datetime | None = None) -> Path:
    """Create a fresh run directory and point ``<scenario>/latest`` at it."""
    now = now or dt.datetime.now(dt.UTC)
    base = root / scenario
    base.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    run = base / stamp
    n = 1
    while run.exists():
        n += 1
        run = base / f"{stamp}-{n}"
    run.mkdir()
    latest = base / "latest"
    tmp = base / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run.name)
    tmp.replace(latest)
    return run


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def list_runs(root: Path = DEFAULT_ROOT) -> list[Path]:
    """Every run directory (one holding config.json), newest first."""
    runs = [p.parent for p in root.glob("*/*/config.json") if not p.parent.is_symlink()]
    return sorted(runs, key=lambda p: p.name, reverse=True)
