"""``aspen-node``: run one Aspen node (see ``aspen.config`` for every setting), or one of the
offline data tools (``aspen-node snapshot restore``, ``aspen-node verify``: see
``aspen.node.tools``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from aspen.config import exit_on_config_error, load_config


def main(argv: Sequence[str] | None = None) -> int:
    from aspen.node import tools

    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in tools.TOOLS:
        return tools.main(args)
    with exit_on_config_error("aspen-node"):
        config = load_config(argv)
    logging.basicConfig(
        level=config.log_level,
        format=f"%(asctime)s n{config.node_id} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from aspen.node.server import run_node
    from aspen.node.storage import StorageOpenError

    try:
        return run_node(config)
    except StorageOpenError as e:
        print(f"aspen-node: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
