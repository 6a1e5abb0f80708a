"""A Docker chaos run or soak stopped by SIGTERM or a double Ctrl-C leaves no container,
network or volume behind, and still writes its report (the same stop path as local runs)."""

from __future__ import annotations

import json
from pathlib import Path

import docker.client
import pytest

from lab.runtime.base import RUN_LABEL
from tests.lab.test_interrupt import REPO, signal_a_chaos_run
from tests.soak.test_cli import signal_a_soak

pytestmark = [pytest.mark.docker, pytest.mark.integration, pytest.mark.timeout(1800)]


@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT", "SIGINT")])
def test_a_signalled_docker_run_leaves_nothing_behind(
    tmp_path: Path, signals: tuple[str, ...]
) -> None:
    # A cold image build (the first Docker test to need this tree's image) takes minutes.
    # From the project root: the Docker runtime builds its image from docker/ there.
    run_dir = signal_a_chaos_run(tmp_path, signals, "--runtime", "docker", startup_s=1200, cwd=REPO)
    assert_nothing_left(run_dir)


@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT", "SIGINT")])
def test_a_signalled_docker_soak_leaves_nothing_behind(
    tmp_path: Path, signals: tuple[str, ...]
) -> None:
    soak_dir = signal_a_soak(tmp_path, signals, "--runtime", "docker", startup_s=1200, cwd=REPO)
    assert_nothing_left(soak_dir)


def assert_nothing_left(run_dir: Path) -> None:
    """No container, network or volume of the run (its ``config.json`` run id); its node
    logs collected."""
    run_id = json.loads((run_dir / "config.json").read_text())["run_id"]
    client = docker.client.from_env()
    try:
        filters = {"label": f"{RUN_LABEL}={run_id}"}
        assert client.containers.list(all=True, filters=filters) == []
        assert client.networks.list(filters=filters) == []
        assert client.volumes.list(filters=filters) == []
    finally:
        client.close()
    assert sorted(p.name for p in (run_dir / "nodes").glob("*.log"))  # logs were collected
