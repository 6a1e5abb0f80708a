"""The no-toxic fast path (``ToxicLink.bypass``, ``sockets.DirectReader``): back-pressure from a
stalled destination, order and integrity, and toxics added to and removed from live links."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable

from lab.toxiproxy.control import ProxyInfo, ToxiproxyControl
from tests.toxiproxy.conftest import Server
from tests.toxiproxy.helpers import recv_all, recv_exactly

Dial = Callable[[ProxyInfo | str], socket.socket]
TOTAL = 64 * 1024 * 1024


class StalledSink:
    """Accepts one connection and reads nothing until ``release``; then hashes all it gets."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.released = threading.Event()
        self.digest = ""
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            self.released.wait(60)
            sha = hashlib.sha256()
            while data := conn.recv(1 << 20):
                sha.update(data)
                self.count += len(data)
            self.digest = sha.hexdigest()

    def close(self) -> None:
        self.released.set()
        self.thread.join(30)
        self.listener.close()


def _stalls(progress: Callable[[], int], quiet: float = 0.5, timeout: float = 30.0) -> int:
    """Wait until ``progress()`` has not moved for ``quiet`` seconds; returns where it stopped."""
    deadline = time.monotonic() + timeout
    last, since = progress(), time.monotonic()
    while time.monotonic() < deadline:
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        time.sleep(0.01)
    raise AssertionError(f"still moving after {timeout}s: no back-pressure")


def test_a_stalled_destination_stops_the_source(
    control: ToxiproxyControl, dial: Dial, prefix: str
) -> None:
    """The proxy must not buffer what the destination does not take: the sender stalls with
    most of 64 MiB unsent, and once the sink reads, every byte arrives in order."""
    sink = StalledSink()
    try:
        proxy = control.create_proxy(prefix + "stall", upstream=sink.address)
        sock = dial(proxy)
        sock.settimeout(None)
        payload = bytes(range(256)) * (TOTAL // 256)
        sent = 0

        def send() -> None:
            nonlocal sent
            view = memoryview(payload)
            while sent < TOTAL:
                sent += sock.send(view[sent : sent + (1 << 20)])
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        stalled_at = _stalls(lambda: sent)
        # Socket buffers on the way hold some megabytes at most; the proxy adds ~1 chunk.
        assert stalled_at < TOTAL // 2, f"{stalled_at} bytes taken while the sink read nothing"
        sink.released.set()
        sender.join(60)
        assert not sender.is_alive()
        sink.thread.join(60)
        assert sink.count == TOTAL
        assert sink.digest == hashlib.sha256(payload).hexdigest()
    finally:
        sink.close()


def test_toxics_come_and_go_on_a_live_connection(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    """Fast path, then a toxic (slicer) on the same connection, then the fast path again:
    nothing lost, nothing reordered."""
    sock = dial(proxy)
    blocks = [bytes([i]) * 50_000 for i in range(6)]
    sock.sendall(blocks[0])
    assert recv_exactly(sock, len(blocks[0])) == blocks[0]
    control.slicer(proxy.name, 1000, size_variation=100, name="cut")
    sock.sendall(blocks[1] + blocks[2])
    assert recv_exactly(sock, 100_000) == blocks[1] + blocks[2]
    control.remove_toxic(proxy.name, "cut")
    sock.sendall(blocks[3] + blocks[4] + blocks[5])
    assert recv_exactly(sock, 150_000) == blocks[3] + blocks[4] + blocks[5]


def test_limit_data_added_mid_stream_closes(
    server: Server, control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    sock = dial(proxy)
    sock.sendall(b"before")
    assert recv_exactly(sock, 6) == b"before"
    control.limit_data(proxy.name, 3)
    sock.sendall(b"after!")
    assert recv_all(sock) == b"aft"
