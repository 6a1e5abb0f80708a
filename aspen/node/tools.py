"""``aspen-node snapshot restore`` and ``aspen-node verify``: offline tools on a data directory.

::

    aspen-node snapshot restore FILE --data-dir D [--node-id N] [--map-size S]
    aspen-node verify --data-dir D

Both run with the node stopped (the etcdutl model). Exit status: 0 done / consistent, 1 the
file or the directory is bad (one line on stderr names the problem), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aspen.errors import AspenError

TOOLS = ("snapshot", "verify")
"""First arguments of ``aspen-node`` that name a tool rather than start a node."""


def _parser() -> argparse.ArgumentParser:
    from aspen.config import _size

    def size(text: str) -> int:
        try:
            return _size(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    p = argparse.ArgumentParser(prog="aspen-node", description="Offline data tools.")
    sub = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    snap = sub.add_parser("snapshot", help="snapshot files").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    r = snap.add_parser("restore", help="build a new data directory from a snapshot file")
    r.add_argument("file", type=Path, metavar="FILE")
    r.add_argument("--data-dir", type=Path, required=True, help="must not exist or be empty")
    r.add_argument("--node-id", type=int, default=1, help="the node's id (default 1)")
    r.add_argument("--map-size", type=size, default=1 << 30, help="LMDB map size (1GiB)")
    v = sub.add_parser("verify", help="check a stopped node's data directory")
    v.add_argument("--data-dir", type=Path, required=True)
    return p


def main(argv: Sequence[str]) -> int:
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        if args.tool == "verify":
            from aspen.storage.verify import verify

            print(verify(args.data_dir).line())
            return 0
        from aspen.storage.snapfile import SnapshotFile, restore

        if args.node_id <= 0:
            print("aspen-node: --node-id must be positive", file=sys.stderr)
            return 2
        f = SnapshotFile.read(args.file)
        restore(f, args.data_dir, args.node_id, map_size=args.map_size)
        print(
            f"restored {args.file} (index {f.index}, sha256 {f.sha256}) into {args.data_dir} "
            f"as node {args.node_id}, the only voter"
        )
        return 0
    except AspenError as e:
        print(f"aspen-node: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
