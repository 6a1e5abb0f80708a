"""IP-level packet loss (``lab.chaos.ip.LossNemesis``): the nft rules, run for real by the kernel
in a private network namespace, and the nemesis on a runtime without containers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.chaos.ip import LOSS_TABLE, LossNemesis, loss_ruleset
from lab.context import RunContext
from lab.recorder import Recorder


def test_ruleset_drops_both_ways_from_its_own_table() -> None:
    rules = loss_ruleset(["10.0.0.3", "10.0.0.2"], 7)
    assert rules.startswith(f"table inet {LOSS_TABLE} {{")
    assert "ip saddr { 10.0.0.3, 10.0.0.2 } numgen random mod 100 < 7 drop" in rules
    assert "ip daddr { 10.0.0.3, 10.0.0.2 } numgen random mod 100 < 7 drop" in rules


@pytest.mark.parametrize("percent", [0, -1, 101])
def test_percent_out_of_range(percent: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.100"):
        loss_ruleset(["10.0.0.2"], percent)
    with pytest.raises(ValueError, match=r"1\.\.100"):
        LossNemesis("loss", percent=percent)


# Counts UDP datagrams 127.0.0.1 -> 127.0.0.1 that survive; printed as "sent received".
_COUNT = """
import socket
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0))
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 4000
for i in range(n):
    try:
        tx.sendto(b"x", rx.getsockname())
    except PermissionError:  # dropped on output: netfilter tells a local sender with EPERM
        pass
rx.settimeout(0.5)
got = 0
try:
    while True:
        rx.recv(16); got += 1
except TimeoutError:
    pass
print(n, got)
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nft")),
    reason="needs root, unshare and nft (a private network namespace)",
)
def test_the_kernel_drops_about_percent_each_way(tmp_path: Path) -> None:
    """In a fresh network namespace (only loopback), 127.0.0.1 is the peer: each datagram
    crosses output then input, so it survives with probability (1 - p)^2."""
    rules = tmp_path / "loss.nft"
    rules.write_text(loss_ruleset(["127.0.0.1"], 30))
    script = f'ip link set lo up && nft -f {rules} && "{sys.executable}" -c "$COUNT"'
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", script],
        env={**os.environ, "COUNT": _COUNT},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and done.stderr.startswith("unshare:"):
        pytest.skip(f"no network namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    sent, received = map(int, done.stdout.split())
    # 0.7^2 = 0.49; 4000 draws: one standard deviation is 0.008.
    assert 0.44 < received / sent < 0.54


async def test_does_nothing_without_containers(tmp_path: Path) -> None:
    from lab.runtime.local import LocalRuntime

    ctx = RunContext(
        run_dir=tmp_path,
        run_id="x",
        seed=1,
        nodes=[1, 2, 3],
        runtime=LocalRuntime(tmp_path, [1, 2, 3], "x"),
        recorder=Recorder(tmp_path),
    )
    try:
        nemesis = LossNemesis("loss")
        value = await nemesis.start(ctx, seed=1)
        assert "needs --runtime docker" in value["skipped"]
        assert await nemesis.heal(ctx) is None
    finally:
        ctx.recorder.close()
