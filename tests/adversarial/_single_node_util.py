"""One real ``aspen-node`` process, initialized as a one-voter cluster, for attacks over HTTP."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from lab.runtime.local import free_port


@dataclass(frozen=True, slots=True)
class LiveNode:
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    raft: str
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def open_fds(self) -> int:
        return int(psutil.Process(self.proc.pid).num_fds())

    def request(
        self, method: str, path: str, body: object = None, timeout: float = 10.0
    ) -> tuple[int, object]:
        """One request with a fresh connection: (status, decoded JSON body or text)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def assert_serving(self) -> None:
        """The process runs, and a write then a linearizable read of it succeed."""
        assert self.alive, (
            f"node exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
        )
        key = f"alive-{time.monotonic_ns()}"
        assert self.request("PUT", f"/kv/{key}", {"value": "yes"})[0] == 200
        status, body = self.request("GET", f"/kv/{key}")
        assert status == 200 and isinstance(body, dict) and body["value"] == "yes", body


def _wait(cond: object, what: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"node exited with {proc.returncode} while waiting for {what}"
        try:
            if cond():  # type: ignore[operator]
                return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout:.0f} s")
        time.sleep(0.05)


@contextlib.contextmanager
def live_node(
    data_dir: Path, *extra: str, node_id: int = 1, init: bool = True
) -> Iterator[LiveNode]:
    """Start ``aspen-node`` on ``data_dir`` (free ports), make it a leader, stop it at the end."""
    host, port, raft = "127.0.0.1", free_port(), f"127.0.0.1:{free_port()}"
    log = data_dir.parent / f"{data_dir.name}.log"
    argv = [
        sys.executable, "-m", "aspen.node", "--node-id", str(node_id),
        "--data-dir", str(data_dir), "--raft-addr", raft, "--http-addr", f"{host}:{port}",
        "--tick-ms", "10", "--heartbeat-ms", "50", "--election-ms", "300", *extra,
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    node = LiveNode(proc, host, port, raft, log)
    try:
        _wait(lambda: node.request("GET", "/node-info")[0] == 200, "the HTTP API", proc)
        if init:
            members = {str(node_id): {"raft": raft, "http": f"{host}:{port}"}}
            node.request("POST", "/init", {"members": members})
        _wait(
            lambda: node.request("PUT", "/kv/setup-probe", {"value": "1"})[0] == 200,
            "a write to succeed",
            proc,
        )
        yield node
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
