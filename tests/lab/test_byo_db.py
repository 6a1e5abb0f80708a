"""Bring your own db: the documented example adapter (docs/examples/tinykv) runs under chaos.

tinykv shares no code with Aspen; the lab loads it from a TOML file or a ``file.py:Class``
without any edit to the lab, runs the faults, and judges it both ways: durable, it survives
kill-all; with ``--fsync never`` (in memory only) the lab catches the acknowledged adds it lost.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.db.registry import load_db
from lab.workloads.base import Invocation
from tests.client.servers import RawServer
from tests.http.support import async_test
from tests.lab._etcd_util import chaos

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tinykv"


@pytest.mark.integration
def test_adapter_toml_runs_kill_all_and_the_durable_system_is_valid(tmp_path: Path) -> None:
    run = chaos(tmp_path, "--db", str(EXAMPLE / "tinykv.toml"), "--scenario", "kill-all",
                "--nodes", "1", "--duration", "10", "--seed", "4")  # fmt: skip
    assert run.code == 0, run.output
    assert run.results["db"].endswith("tinykv.toml")
    assert run.results["verdicts"] == {"set": "valid", "recovery": "valid"}
    assert [f["fault"] for f in run.results["faults"]] == ["kill-all"]
    assert run.results["ops"]["total"]["ok"] > 0


@pytest.mark.integration
def test_lost_writes_of_a_foreign_system_are_caught(tmp_path: Path) -> None:
    run = chaos(tmp_path, "--db", str(EXAMPLE / "tinykv.toml"), "--scenario", "kill-all",
                "--nodes", "1", "--duration", "10", "--seed", "4", "--fsync", "never")  # fmt: skip
    assert run.code == 1, run.output
    assert run.results["verdicts"]["set"] == "invalid"
    assert "acknowledged add(s) lost" in run.output


@pytest.mark.integration
def test_adapter_class_by_path_runs_pause(tmp_path: Path) -> None:
    run = chaos(tmp_path, "--db", f"{EXAMPLE / 'adapter.py'}:TinyKV", "--scenario", "pause",
                "--nodes", "1", "--duration", "8", "--seed", "2")  # fmt: skip
    assert run.code == 0, run.output
    assert run.results["verdicts"] == {"linearizable": "valid", "recovery": "valid"}
    assert {f["fault"] for f in run.results["faults"]} <= {"pause", "pause-leader"}


@async_test
async def test_example_client_calls_an_add_the_server_took_before_dying_info() -> None:
    """The server reads the PUT and dies; aiohttp resends it and the resend is refused. The
    add may have been applied, so it is ``info``, never ``fail``."""
    adapter = sys.modules[type(load_db(f"{EXAMPLE / 'adapter.py'}:TinyKV")).__module__]
    async with RawServer("crash") as server:
        client = adapter.TinyKVClient(server.url.removeprefix("http://"), timeout=2.0)
        try:
            done = await client.invoke(Invocation("add", "set", 7))
        finally:
            await client.close()
    assert server.lines == ["PUT /kv/set/7 HTTP/1.1"]
    assert done.type == "info", done


def test_a_db_the_lab_cannot_load_exits_2_before_anything_starts(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "lab.cli", "chaos", "--store", str(tmp_path), "--db",
            "no_such_module:Thing", "--scenario", "pause"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--db no_such_module:Thing" in done.stderr and "ModuleNotFoundError" in done.stderr
    assert not list(tmp_path.iterdir())
