"""Gate for the simulator's long tests.

Tests marked ``slow`` (long seeded explorations) run only when the marker expression asks for
them (``-m slow``, as ``nox -s slow`` does); a bare ``pytest tests/sim`` skips them and says why,
so the default run stays within its time budget.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow (nox -s slow)")
    for item in items:
        if "slow" in item.keywords and item.nodeid.startswith("tests/sim/"):
            item.add_marker(skip)
