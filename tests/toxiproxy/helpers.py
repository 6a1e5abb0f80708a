"""Test tools for the Toxiproxy suite: a threaded echo server, raw HTTP, socket and wait helpers."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Reply:
    """An HTTP answer: status, content type and body (parsed as JSON when it is JSON)."""

    status: int
    content_type: str
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


class RawApi:
    """Raw HTTP to a Toxiproxy API with aiohttp, for what toxiproxy-python cannot send."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One request; ``body`` is sent as JSON unless ``data`` gives raw bytes."""
        payload = data if data is not None else (None if body is None else json.dumps(body))
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, data=payload, headers=headers) as resp,
        ):
            return Reply(resp.status, resp.content_type, await resp.text())


@dataclass
class Session:
    """One connection the echo server accepted: what it received, recv by recv."""

    received: list[bytes] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    error: OSError | None = None

    @property
    def data(self) -> bytes:
        return b"".join(self.received)


class EchoServer:
    """A threaded TCP server on 127.0.0.1 that echoes (or just records) what it gets."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.sessions: list[Session] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stopping.set()
        self._accepter.join()
        self._listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            session = Session()
            thread = threading.Thread(target=self._serve, args=(conn, session), daemon=True)
            with self._lock:
                self.sessions.append(session)
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, session: Session) -> None:
        try:
            while data := conn.recv(65536):
                session.received.append(data)
                if self.echo:
                    conn.sendall(data)
        except OSError as exc:
            session.error = exc
        finally:
            conn.close()
            session.closed.set()


def host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes from ``sock`` (fails on EOF first)."""
    buf = b""
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if not data:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += data
    return buf


def recv_all(sock: socket.socket) -> bytes:
    """Everything until EOF."""
    buf = b""
    while data := sock.recv(65536):
        buf += data
    return buf


def round_trip(sock: socket.socket, payload: bytes) -> float:
    """Seconds to send ``payload`` and get it all back from the echo server."""
    started = time.monotonic()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.monotonic() - started
