"""``aspen-lab toxiproxy``: options, and a real run stopped with Ctrl-C."""

from __future__ import annotations

import argparse
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from lab import cli
from lab.toxiproxy import cli as toxiproxy_cli

REPO = Path(__file__).resolve().parents[2]


def test_toxiproxy_is_a_lab_command() -> None:
    assert cli.COMMANDS["toxiproxy"][0] == "lab.toxiproxy.cli"


def test_options_and_defaults() -> None:
    parser = argparse.ArgumentParser()
    toxiproxy_cli.configure(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.log_level) == ("127.0.0.1", 8474, "INFO")
    args = parser.parse_args(["--host", "0.0.0.0", "--port", "0"])
    assert (args.host, args.port) == ("0.0.0.0", 0)


def test_usage_errors() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["toxiproxy", "--port", "many"])
    assert exc.value.code == 2


def test_serves_logs_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "toxiproxy", "--port", "0"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in process.stderr or []:
            lines.put(line)

    reader = threading.Thread(target=pump)
    reader.start()
    try:
        url = None
        while url is None:
            line = lines.get(timeout=30)
            match = re.search(r"listening on (http://\S+)", line)
            url = match.group(1) if match else None
        assert requests.get(url + "/proxies", timeout=10).json() == {}
        while "GET /proxies -> 200" not in lines.get(timeout=30):
            pass
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join()
        if process.stderr is not None:
            process.stderr.close()
