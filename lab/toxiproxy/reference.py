"""The real Toxiproxy (Shopify's Go server) as a reference to compare ours with: find or build
its binary and run it on a free port.

It is a test and benchmark tool, never a dependency: everything here answers ``None`` (with the
reason) when there is no binary and no Go to build one, and callers skip. The binary is looked
for in ``$TOXIPROXY_SERVER``, then on ``PATH``, then in the cache ``build.sh`` writes to; failing
those, ``shared/tools/toxiproxy-server/build.sh`` (next to this checkout) builds it offline when
``go`` is installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import requests

ROOT: Final = Path(__file__).resolve().parents[2]
BUILD_SCRIPT: Final = ROOT.parent / "shared/tools/toxiproxy-server/build.sh"
CACHE: Final = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "toxiproxy-server"


@dataclass(frozen=True, slots=True)
class Found:
    """Where the real server is, or why there is none (``path`` is then ``None``)."""

    path: Path | None
    reason: str


def find_real(build: bool = True) -> Found:
    """The real ``toxiproxy-server``; builds it with ``build.sh`` if allowed and possible."""
    env = os.environ.get("TOXIPROXY_SERVER")
    if env:
        path = Path(env)
        return Found(path, "TOXIPROXY_SERVER") if path.is_file() else Found(None, f"{env} missing")
    on_path = shutil.which("toxiproxy-server")
    if on_path:
        return Found(Path(on_path), "PATH")
    cached = CACHE / "toxiproxy-server"
    if cached.is_file() and not build:
        return Found(cached, "cache")
    if not BUILD_SCRIPT.is_file():
        return Found(cached if cached.is_file() else None, f"no {BUILD_SCRIPT}")
    if shutil.which("go") is None:
        reason = "Go is not installed (apt-get install golang-go, see build.sh)"
        return Found(cached if cached.is_file() else None, reason)
    if not build:
        return Found(None, "not built yet")
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT), str(CACHE)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return Found(None, f"build.sh failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return Found(Path(done.stdout.strip().splitlines()[-1]), "built by build.sh")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for servers that cannot be told to take port 0)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_api(url: str, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Poll ``url/version`` until it answers; raises if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {process.returncode}")
        try:
            if requests.get(f"{url}/version", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no API at {url} after {timeout}s")
        time.sleep(0.02)


@dataclass(frozen=True, slots=True)
class Running:
    """A server process: its API's URL and its pid (for CPU accounting)."""

    url: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(command: list[str], port: int, host: str = "127.0.0.1") -> Iterator[Running]:
    """Run a Toxiproxy-compatible server ``command`` listening on ``host:port``; yields it and
    stops it (SIGTERM, then SIGKILL) afterwards."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{host}:{port}"
    try:
        wait_for_api(url, process)
        yield Running(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def real_command(binary: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """The real server's command line."""
    return [str(binary), "-host", host, "-port", str(port)]
