"""``aspen-lab toxiproxy``: run our Toxiproxy-compatible server in the foreground.

Serves the API on ``--host``/``--port`` (8474 by default, as ``toxiproxy-server``; 0 picks a
free port) and logs each API call at INFO. Ctrl-C or SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from lab.toxiproxy import loop
from lab.toxiproxy.server import ToxiproxyServer

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add this command's options."""
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8474, help="API port (default 8474; 0 = any free port)"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 on a clean stop, 1 if the API could not start."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return loop.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        return 0


async def serve(host: str, port: int, stop: asyncio.Event | None = None) -> int:
    """Run the server until ``stop`` is set (or SIGINT / SIGTERM / cancellation)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # Both signals just set ``stop``: the server then closes every proxy and connection the
    # same way, rather than racing a KeyboardInterrupt through the loop (which, on uvloop,
    # sometimes left the process running).
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main
            loop.add_signal_handler(sig, stop.set)
    server = ToxiproxyServer(host, port)
    try:
        await server.start()
    except OSError as exc:
        log.error("cannot serve the API on %s:%d: %s", host, port, exc)
        return 1
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await server.stop()
    return 0
