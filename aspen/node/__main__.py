"""``python -m aspen.node`` is ``aspen-node``."""

from aspen.node.cli import main

raise SystemExit(main())
