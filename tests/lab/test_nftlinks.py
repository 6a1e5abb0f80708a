"""lab.runtime.nftlinks: the lab's toxics as nft tables at each link's destination."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from lab.runtime.base import Endpoint
from lab.runtime.nftlinks import NftLinks, UnsupportedLinkFault


@dataclass
class FakeNodes:
    """Records the scripts loaded into each node."""

    loaded: dict[int, list[str]] = field(default_factory=dict)

    def ip(self, node_id: int) -> str:
        return f"10.0.0.{10 + node_id}"

    def endpoint(self, node_id: int, service: str) -> Endpoint:
        return Endpoint(self.ip(node_id), 7000, bind="0.0.0.0")

    def nft(self, node_id: int, script: str) -> None:
        self.loaded.setdefault(node_id, []).append(script)


def test_a_cut_loads_each_destination_and_script_holds_what_is_in_force() -> None:
    nodes = FakeNodes()
    links = NftLinks(nodes, [1, 2, 3])
    assert links.peer_address(1, 2) == "10.0.0.12:7000"
    assert links.script(3) is None
    links.add_toxic([(1, 3), (3, 1)], "cut", "timeout", {"timeout": 0})
    assert set(nodes.loaded) == {1, 3}
    assert "ip saddr 10.0.0.11 drop" in nodes.loaded[3][-1]
    assert "ip saddr 10.0.0.13 drop" in nodes.loaded[1][-1]
    script = links.script(3)
    assert script is not None and script == nodes.loaded[3][-1]
    assert script.startswith("table inet lab {}\ndelete table inet lab\n")  # replaces atomically

    links.add_toxic([(2, 3)], "narrow", "bandwidth", {"rate": 16})
    assert "limit rate over 16" in (links.script(3) or "") and "drop" in (links.script(3) or "")
    links.remove_toxic([(1, 3), (3, 1)], "cut")
    assert "10.0.0.11" not in (links.script(3) or "")
    links.heal()
    assert links.script(3) is None and links.script(1) is None
    assert "saddr" not in nodes.loaded[3][-1]  # healed: an empty chain was loaded


def test_what_nftables_cannot_do_is_refused_before_any_rule_is_loaded() -> None:
    nodes = FakeNodes()
    links = NftLinks(nodes, [1, 2, 3])
    with pytest.raises(UnsupportedLinkFault, match="one-way"):
        links.add_toxic([(1, 2)], "cut", "timeout", {"timeout": 0})
    with pytest.raises(UnsupportedLinkFault, match="netem"):
        links.add_toxic([(1, 2), (2, 1)], "slow", "latency", {"latency": 100})
    assert not nodes.loaded
