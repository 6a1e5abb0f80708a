"""Proxy speed: ``python -m lab.toxiproxy.bench [--out PATH] [--round-trips N] [--megabytes M]``.

Measures, in the same run (the machine is shared, so only numbers taken side by side compare):

* the direct path (client -> echo/sink server, no proxy),
* our proxy (``aspen-lab toxiproxy`` in its own process, as ``toxiproxy-server`` runs),
* the real Toxiproxy (Go), when its binary is there or Go can build it (``reference.py``),

each with no toxic and with a ``latency 0`` toxic both ways (the toxic path: every chunk goes
through a toxic stage). Latency is a 64 B echo round trip (p50/p99, and what the proxy adds to
the direct path's), the targets taking turns every ``INTERLEAVE`` round trips; throughput is
bulk bytes one way through one proxy, acknowledged at the end, one transfer per target per
round. The echo and sink servers run in a helper process of their own, so the client's timing
never competes with them for the GIL. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from lab.toxiproxy.control import ToxiproxyControl
from lab.toxiproxy.reference import cpu_seconds, find_real, free_port, real_command, serve

MESSAGE: Final = 64
CHUNK: Final = 1 << 20


# -- the helper process: an echo server and a counting sink -------------------------------------


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def _sink(conn: socket.socket) -> None:
    """Reads an 8-byte length, then that many bytes, then answers one byte."""
    with conn:
        header = b""
        while len(header) < 8:
            got = conn.recv(8 - len(header))
            if not got:
                return
            header += got
        left = int.from_bytes(header, "big")
        buf = bytearray(CHUNK)
        while left > 0:
            n = conn.recv_into(buf, min(left, CHUNK))
            if n == 0:
                return
            left -= n
        conn.sendall(b"k")


def _accept_forever(listener: socket.socket, handler: Callable[[socket.socket], None]) -> None:
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def serve_helpers() -> None:
    """Echo and sink on free ports; prints ``echo_port sink_port``; runs until stdin closes."""
    ports = []
    for handler in (_echo, _sink):
        listener = socket.create_server(("127.0.0.1", 0))
        ports.append(listener.getsockname()[1])
        threading.Thread(target=_accept_forever, args=(listener, handler), daemon=True).start()
    print(*ports, flush=True)
    sys.stdin.read()


@contextmanager
def helpers() -> Iterator[tuple[str, str]]:
    """The helper process; yields the echo and sink addresses."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lab.toxiproxy.bench", "--serve-helpers"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        echo_port, sink_port = process.stdout.readline().split()
        yield f"127.0.0.1:{echo_port}", f"127.0.0.1:{sink_port}"
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the client ---------------------------------------------------------------------------------


def _connect(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trips(sock: socket.socket, n: int) -> list[float]:
    """``n`` 64 B echo round trips on ``sock``, in microseconds each."""
    payload = b"x" * MESSAGE
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        sock.sendall(payload)
        got = 0
        while got < MESSAGE:
            chunk = sock.recv(MESSAGE - got)
            if not chunk:
                raise ConnectionError("echo closed")
            got += len(chunk)
        out.append((clock() - start) / 1000)
    return out


def bulk(address: str, total: int) -> float:
    """Send ``total`` bytes to the sink through ``address``; MB/s (10^6 bytes) until acked."""
    data = memoryview(bytes(CHUNK))
    with _connect(address) as sock:
        start = time.perf_counter()
        sock.sendall(total.to_bytes(8, "big"))
        left = total
        while left > 0:
            n = min(left, CHUNK)
            sock.sendall(data[:n])
            left -= n
        if sock.recv(1) != b"k":
            raise ConnectionError("sink did not acknowledge")
        return total / (time.perf_counter() - start) / 1e6


@dataclass
class Target:
    """One path to measure: where its echo and sink are reached."""

    name: str
    echo: str
    sink: str
    pid: int | None = None  # the proxy's process, serving this target alone
    samples: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    latency_cpu: float = 0.0  # the proxy's CPU seconds during the round trips
    bulk_cpu: float = 0.0  # and during the bulk transfers

    def cpu(self) -> float:
        return 0.0 if self.pid is None else cpu_seconds(self.pid)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


INTERLEAVE: Final = 20
"""Round trips per turn: the targets take turns this often, so a burst of load from elsewhere
on a shared machine lands on all of them alike instead of on whichever block it hit."""


def measure(targets: list[Target], n: int, total: int, rounds: int) -> None:
    """Interleave the targets round by round: latency in short turns, then one bulk transfer
    each."""
    socks = {t.name: _connect(t.echo) for t in targets}
    try:
        for sock in socks.values():
            round_trips(sock, 200)  # warm up: connections, caches, Go's scheduler
        for _ in range(rounds):
            before = [t.cpu() for t in targets]
            for _ in range(max(1, n // rounds // INTERLEAVE)):
                for t in targets:
                    t.samples += round_trips(socks[t.name], INTERLEAVE)
            for t, cpu in zip(targets, before, strict=True):
                t.latency_cpu += t.cpu() - cpu
            for t in targets:
                cpu = t.cpu()
                t.rates.append(bulk(t.sink, total))
                t.bulk_cpu += t.cpu() - cpu
    finally:
        for sock in socks.values():
            sock.close()


def summarise(targets: list[Target], total_mb: float) -> dict[str, dict[str, float]]:
    """p50/p99 (us), what each adds to the direct path's, MB/s (median and best), and the
    proxy's CPU per round trip and per 100 MB."""
    direct = targets[0]
    base50, base99 = _quantile(direct.samples, 0.5), _quantile(direct.samples, 0.99)
    out = {}
    for t in targets:
        p50, p99 = _quantile(t.samples, 0.5), _quantile(t.samples, 0.99)
        out[t.name] = {
            "p50_us": round(p50, 1),
            "p99_us": round(p99, 1),
            "added_p50_us": round(p50 - base50, 1),
            "added_p99_us": round(p99 - base99, 1),
            "mb_per_s": round(statistics.median(t.rates), 1),
            "mb_per_s_best": round(max(t.rates), 1),
            # CPU the proxy process spends: independent of how loaded the machine is
            "cpu_us_per_round_trip": round(t.latency_cpu / len(t.samples) * 1e6, 1),
            "cpu_ms_per_100mb": round(t.bulk_cpu / (total_mb * len(t.rates)) * 1e5, 1),
        }
    return out


def _proxies(
    stack: ExitStack, kind: str, command: Callable[[int], list[str]], echo: str, sink: str
) -> list[Target]:
    """A server process without toxics and one with a ``latency 0`` toxic both ways, each
    with a proxy to the echo and one to the sink (one process per target: CPU is per target)."""
    out = []
    for toxic in (False, True):
        port = free_port()
        server = stack.enter_context(serve(command(port), port))
        control = ToxiproxyControl(server.url)
        e = control.create_proxy("bench_echo", upstream=echo)
        s = control.create_proxy("bench_sink", upstream=sink)
        if toxic:
            for proxy in (e, s):
                control.latency(proxy.name, 0, stream="upstream")
                control.latency(proxy.name, 0, stream="downstream")
        out.append(Target(kind + (" +toxic" if toxic else ""), e.listen, s.listen, server.pid))
    return out


def _ours(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lab.cli",
        "toxiproxy",
        "--port",
        str(port),
        "--log-level",
        "WARNING",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/proxy.json"))
    parser.add_argument("--round-trips", type=int, default=6000, help="per target")
    parser.add_argument("--megabytes", type=int, default=128, help="per bulk transfer")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-real", action="store_true", help="skip the real Toxiproxy")
    parser.add_argument("--no-toxic", action="store_true", help="skip the +toxic rows")
    parser.add_argument("--serve-helpers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_helpers:
        serve_helpers()
        return 0
    found = find_real() if not args.no_real else None
    with ExitStack() as stack:
        echo, sink = stack.enter_context(helpers())
        targets = [Target("direct", echo, sink)]
        targets += _proxies(stack, "ours", _ours, echo, sink)
        if found is not None and found.path is not None:
            binary = found.path
            targets += _proxies(stack, "real", lambda port: real_command(binary, port), echo, sink)
        if args.no_toxic:
            targets = [t for t in targets if not t.name.endswith("+toxic")]
        measure(targets, args.round_trips, args.megabytes * 1_000_000, args.rounds)
        results = summarise(targets, args.megabytes)
    _print(results)
    if found is not None and found.path is None:
        print(f"real Toxiproxy not measured: {found.reason}")
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "round_trips": args.round_trips,
        "megabytes": args.megabytes,
        "rounds": args.rounds,
        "real": None if found is None else asdict(found) | {"path": str(found.path)},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


COLUMNS: Final = {
    "p50_us": "p50 us",
    "p99_us": "p99 us",
    "added_p50_us": "+p50 us",
    "added_p99_us": "+p99 us",
    "mb_per_s": "MB/s",
    "mb_per_s_best": "best MB/s",
    "cpu_us_per_round_trip": "cpu us/rt",
    "cpu_ms_per_100mb": "cpu ms/100MB",
}


def _print(results: dict[str, dict[str, float]]) -> None:
    print(f"{'path':<14}" + "".join(f"{head:>13}" for head in COLUMNS.values()))
    for name, r in results.items():
        print(f"{name:<14}" + "".join(f"{r[key]:>13}" for key in COLUMNS))


if __name__ == "__main__":
    raise SystemExit(main())
