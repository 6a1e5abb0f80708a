"""lab.runtime.swarm_hosts and swarm_options without an engine: placement, addresses, flags."""

from __future__ import annotations

from typing import Any

import pytest

from lab.runtime.swarm_hosts import SwarmHost, _reachable, place
from lab.runtime.swarm_options import SwarmOptions
from lab.test import LabTest


def host(name: str, *aliases: str) -> SwarmHost:
    return SwarmHost(
        node_id=f"id-{name}",
        hostname=name,
        addr=f"{name}.lan",
        engine_url="",
        names=frozenset({f"id-{name}", name, *aliases}),
    )


HOSTS = [host("a"), host("b", "rack2"), host("c")]


def test_nodes_spread_round_robin_over_all_hosts_by_default() -> None:
    placed = place(HOSTS, [5, 1, 2, 3, 4])
    assert {n: h.hostname for n, h in placed.items()} == {
        1: "a", 2: "b", 3: "c", 4: "a", 5: "b",
    }  # fmt: skip


def test_listed_hosts_take_the_nodes_in_turn_by_name_id_or_label() -> None:
    placed = place(HOSTS, [1, 2, 3, 4, 5], ["c", "rack2", "id-a"])
    assert [placed[n].hostname for n in (1, 2, 3, 4, 5)] == ["c", "b", "a", "c", "b"]


def test_an_unknown_host_or_an_empty_swarm_is_an_error() -> None:
    with pytest.raises(ValueError, match="no ready swarm node is called 'd'"):
        place(HOSTS, [1], ["a", "d"])
    with pytest.raises(RuntimeError, match="no ready, active node"):
        place([], [1])


class _Api:
    base_url = "http+docker://localhost"


class _Client:
    api = _Api()


def node(addr: str, manager: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"Status": {"Addr": addr}}
    if manager:
        found["ManagerStatus"] = {"Addr": manager}
    return found


def test_a_hosts_address_is_its_swarm_address_unless_only_loopback_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert _reachable(node("192.168.1.7"), _Client(), "") == "192.168.1.7"
    assert _reachable(node("0.0.0.0", "10.1.2.3:2377"), _Client(), None) == "10.1.2.3"
    assert _reachable(node("127.0.0.1"), _Client(), None) == "127.0.0.1"  # the local engine
    monkeypatch.setenv("DOCKER_HOST", "tcp://manager.lan:2376")
    assert _reachable(node("127.0.0.1"), _Client(), None) == "manager.lan"
    assert _reachable(node("127.0.0.1"), _Client(), "tcp://h2.lan:2376") == "h2.lan"


def test_the_rerun_command_carries_the_swarm_options() -> None:
    options = SwarmOptions(init=True, hosts=("h1", "h2"), registry="reg.lan:5000")
    test = LabTest(scenario="partition", runtime="swarm", swarm=options)
    assert test.rerun_command().endswith(
        "--runtime swarm --swarm-init --swarm-hosts h1,h2 --swarm-registry reg.lan:5000"
    )
    assert "--swarm" not in LabTest(scenario="partition", runtime="docker").rerun_command()
