"""nftables scripts into a node container's network stack, whatever state the node is in.

The lab's link faults for a db whose peers talk directly (`lab.runtime.nftlinks`) live in the
destination node's container; the runtime recreates that container on every start, so:

- running: ``exec`` ``nft -f`` in it;
- paused (``exec`` is refused): a short-lived helper container sharing its network namespace
  (``--network container:<id>``) loads the script;
- not running: nothing now; its next container loads the rules in force before the node's
  process starts (`with_rules` wraps the command), so a restarted node is still cut off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab.runtime.base import NodeCommand
from lab.runtime.docker.engine import quiet
from lab.runtime.docker.layout import NODE_LABEL

RULES_ENV = "ASPEN_LAB_NFT"
_LOAD = 'printf "%s" "$ASPEN_LAB_NFT" | nft -f - && echo applied'
_LOAD_THEN_EXEC = (
    'printf "%s" "$ASPEN_LAB_NFT" | nft -f - || exit 97; unset ASPEN_LAB_NFT; exec "$@"'
)


def with_rules(command: NodeCommand, script: str | None) -> NodeCommand:
    """``command``, loading ``script`` first (exit 97 if nft refuses it), then ``exec``ing the
    node's process, which stays PID 1 so stop, kill and pause reach it as before."""
    if script is None:
        return command
    argv = ["sh", "-c", _LOAD_THEN_EXEC, "node-with-rules", *command.argv]
    return NodeCommand(argv, {**command.env, RULES_ENV: script})


def load_by_exec(runtime: Any, container: str, script: str) -> None:
    """Load ``script`` in a running container (``runtime.exec``)."""
    code, out = runtime.exec(container, ["sh", "-c", _LOAD], env={RULES_ENV: script})
    if code != 0 or "applied" not in out:
        raise RuntimeError(f"nft in {container[:12]} failed ({code}): {out.strip()}\n{script}")


def load_by_helper(
    client: Any, image: str, container: str, script: str, labels: Mapping[str, str]
) -> None:
    """Load ``script`` into a (paused) container's network namespace from a helper container."""
    created = client.api.create_container(
        image,
        command=["sh", "-c", _LOAD],
        environment={RULES_ENV: script},
        labels={**labels, NODE_LABEL: "nft-helper"},
        host_config=client.api.create_host_config(
            network_mode=f"container:{container}", cap_add=["NET_ADMIN"]
        ),
    )
    helper = str(created["Id"])
    try:
        client.api.start(helper)
        code = int(client.api.wait(helper, timeout=60)["StatusCode"])
        out = client.api.logs(helper, stdout=True, stderr=True).decode(errors="replace")
    finally:
        quiet(client.api.remove_container, helper, force=True)
    if code != 0 or "applied" not in out:
        raise RuntimeError(f"nft helper for {container[:12]} failed ({code}): {out.strip()}")
