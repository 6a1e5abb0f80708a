"""lab.runtime.docker.firewall: a restarted node's container loads its rules before the node.

Runs the wrapper for real with ``sh`` and a stand-in ``nft`` on PATH, no Docker needed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lab.runtime.base import NodeCommand
from lab.runtime.docker.firewall import RULES_ENV, with_rules


def _run(command: NodeCommand, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **command.env}
    return subprocess.run(list(command.argv), env=env, capture_output=True, text=True, timeout=30)


def test_without_rules_the_command_is_unchanged() -> None:
    command = NodeCommand(["etcd", "--name", "n1"], {"A": "1"})
    assert with_rules(command, None) is command


def test_rules_are_loaded_then_the_node_replaces_the_shell(tmp_path: Path) -> None:
    loaded = tmp_path / "loaded"
    nft = tmp_path / "nft"
    nft.write_text(f'#!/bin/sh\n[ "$1 $2" = "-f -" ] || exit 2\ncat > {loaded}\n')
    nft.chmod(0o755)
    node = ["sh", "-c", f'echo "pid $$ rules=${{{RULES_ENV}:-none}} args $*"', "x", "a b"]
    wrapped = with_rules(NodeCommand(node, {"A": "1"}), "table inet lab {}\n")
    assert wrapped.env == {"A": "1", RULES_ENV: "table inet lab {}\n"}
    done = _run(wrapped, tmp_path)
    assert done.returncode == 0, done.stderr
    assert loaded.read_text() == "table inet lab {}\n"
    assert "rules=none args a b" in done.stdout  # the script is not in the node's environment


def test_a_script_nft_refuses_stops_the_node_from_starting(tmp_path: Path) -> None:
    nft = tmp_path / "nft"
    nft.write_text("#!/bin/sh\necho 'Error: syntax error' >&2\nexit 1\n")
    nft.chmod(0o755)
    marker = tmp_path / "started"
    wrapped = with_rules(NodeCommand(["touch", str(marker)], {}), "garbage")
    done = _run(wrapped, tmp_path)
    assert done.returncode == 97 and "syntax error" in done.stderr
    assert not marker.exists()
