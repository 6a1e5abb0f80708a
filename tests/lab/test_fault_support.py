"""Which faults a runtime and db can inject, and how namespaces turn toxics into nft rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.chaos.scenarios import SCENARIOS
from lab.chaos.support import plan_faults
from lab.db.registry import DBSpecError, load_db
from lab.runtime.nftlinks import UnsupportedLinkFault, check_symmetric, rule_for


def test_etcd_partitions_leave_out_only_the_one_way_cuts() -> None:
    etcd = load_db("etcd")
    plan = plan_faults(SCENARIOS["partition"], (), "local", etcd, nodes=3)
    assert {s.fault for s in plan.skipped} == {"partition-one-way", "partition-majorities-ring"}
    assert "partition-halves" in plan.run and "partition-bridge" in plan.run
    five = plan_faults(SCENARIOS["partition"], (), "local", etcd, nodes=5)
    assert "partition-majorities-ring" in five.run  # odd majority: the ring is symmetric


def test_a_fault_asked_for_by_name_that_cannot_run_is_an_error() -> None:
    with pytest.raises(ValueError, match="one way"):
        plan_faults(SCENARIOS["partition"], ("partition-one-way",), "local", load_db("etcd"))
    with pytest.raises(ValueError, match="netem"):
        plan_faults(SCENARIOS["slow-network"], (), "local", load_db("etcd"))
    with pytest.raises(ValueError, match="docker"):
        plan_faults(SCENARIOS["partition-ip"], (), "local", load_db("aspen"))


def test_mixed_has_every_fault_and_runs_all_the_runtime_supports() -> None:
    every = {n for s in SCENARIOS.values() if s.name != "mixed" for n in s.build()}
    assert set(SCENARIOS["mixed"].build()) == every
    local = plan_faults(SCENARIOS["mixed"], (), "local", load_db("aspen"))
    assert {s.fault for s in local.skipped} == {n for n in every if n.startswith("ip-")}
    assert {"slow-one", "pause", "bandwidth", "partition-one-way"} <= set(local.run)
    docker = plan_faults(SCENARIOS["mixed"], (), "docker", load_db("aspen"))
    assert set(docker.run) == every and not docker.skipped


def test_toxics_become_nft_rules_at_the_destination() -> None:
    assert rule_for("10.0.0.1", "timeout", {"timeout": 0}, 1.0) == "ip saddr 10.0.0.1 drop"
    assert "reject with tcp reset" in rule_for("10.0.0.1", "reset_peer", {"timeout": 0}, 1.0)
    assert "numgen random mod 100 < 50 drop" in rule_for("h", "reset_peer", {"timeout": 9}, 0.5)
    assert "limit rate over 16 kbytes/second" in rule_for("h", "bandwidth", {"rate": 16}, 1.0)
    with pytest.raises(UnsupportedLinkFault, match="netem"):
        rule_for("h", "latency", {"latency": 100, "jitter": 0}, 1.0)


def test_one_way_cuts_are_refused_symmetric_ones_pass() -> None:
    check_symmetric([(1, 2), (2, 1)], "timeout")
    check_symmetric([(1, 2)], "bandwidth")  # a rate limit one way is what it says
    with pytest.raises(UnsupportedLinkFault):
        check_symmetric([(1, 2), (2, 3), (3, 1)], "timeout")


def test_db_specs(tmp_path: Path) -> None:
    assert load_db("aspen").name == "aspen" and load_db("etcd").name == "etcd"
    bad = tmp_path / "bad.toml"
    bad.write_text("[db]\noptions = {}\n")
    with pytest.raises(DBSpecError, match="adapter"):
        load_db(str(bad))
    half = tmp_path / "half.py"
    half.write_text("class Half:\n    name = 'half'\n")
    with pytest.raises(DBSpecError, match="lacks"):
        load_db(f"{half}:Half")
    with pytest.raises(DBSpecError, match="not a known db"):
        load_db("nosuchdb")


def test_etcd_on_docker_leaves_out_what_it_does_locally_and_one_way_ip_cuts() -> None:
    etcd = load_db("etcd")
    assert "docker" in etcd.runtimes
    for name in ("partition", "flaky-network", "pause", "membership"):
        local = plan_faults(SCENARIOS[name], (), "local", etcd)
        docker = plan_faults(SCENARIOS[name], (), "docker", etcd)
        assert docker == local, name
    ip = plan_faults(SCENARIOS["partition-ip"], (), "docker", etcd)
    assert [s.fault for s in ip.skipped] == ["ip-firewall-one-way"]
    assert "direct TCP" in ip.skipped[0].reason
    assert set(ip.run) == {"ip-disconnect-leader", "ip-firewall"}
    aspen = plan_faults(SCENARIOS["partition-ip"], (), "docker", load_db("aspen"))
    assert not aspen.skipped  # through the proxies, an outgoing cut is one way
    with pytest.raises(ValueError, match="netem"):
        plan_faults(SCENARIOS["slow-network"], (), "docker", etcd)
