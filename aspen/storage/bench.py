"""Persist throughput: ``python -m aspen.storage.bench [dir]`` prints entries/s per batch size.

Each ``persist`` is one LMDB write transaction (one fsync with ``fsync="always"``), so the cost
of many tiny transactions shows as the gap between batch 1 and batch 64.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from aspen.kv.commands import Put, encode
from aspen.raft.messages import Entry, HardState
from aspen.storage.lmdb import FsyncMode, LmdbStorage


def bench(path: Path, fsync: FsyncMode, batch: int, seconds: float, apply: bool) -> float:
    """Entries/s persisted (and applied, with ``apply``) in calls of ``batch`` entries."""
    data = [encode(Put(f"key{i % 1000}", "v" * 80)) for i in range(batch)]
    with LmdbStorage(path, 1, 1 << 30, fsync) as s:
        index = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            ents = [Entry(1, index + i + 1, data=data[i]) for i in range(batch)]
            hs = HardState(1, 1, index + batch)
            if apply:
                s.write_ready(hs, ents, None, ents, None)
            else:
                s.persist(hs, ents)
            index += batch
        return index / (time.perf_counter() - start)


def main() -> None:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        for fsync in ("always", "never"):
            for apply in (False, True):
                for batch in (1, 64):
                    path = Path(tmp) / f"{fsync}-{apply}-{batch}"
                    rate = bench(path, fsync, batch, 1.0, apply)
                    what = "write_ready" if apply else "persist    "
                    print(f"{what} fsync={fsync:6} batch={batch:3}: {rate:>10,.0f} entries/s")


if __name__ == "__main__":
    main()
