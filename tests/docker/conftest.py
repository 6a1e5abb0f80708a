"""Docker-marked tests run only where a Docker engine answers; elsewhere they are skipped, and
the reason (`-ra` prints it) says why."""

from __future__ import annotations

import functools

import pytest


@functools.cache
def engine_unavailable() -> str | None:
    """Why no Docker engine can be used, or None when one answers a ping."""
    try:
        import docker.client

        docker.client.from_env(timeout=10).ping()
    except Exception as e:  # any failure means the same thing here: no engine to test with
        return f"no Docker engine answers ({type(e).__name__}: {e})"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is not None:
        reason = engine_unavailable()
        if reason is not None:
            pytest.skip(reason)
