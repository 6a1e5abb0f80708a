"""What a run asks of Swarm (``--swarm-init``, ``--swarm-hosts``, ``--swarm-registry``): a record
of the test's config, importable without the Docker SDK."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SwarmOptions:
    """How a run uses Swarm: make a single-node swarm for it (and leave it after), pin nodes to
    these hosts in turn (empty: spread over all), push the node image to this registry (None:
    copy it into each host's engine)."""

    init: bool = False
    hosts: tuple[str, ...] = ()
    registry: str | None = None

    def argv(self) -> list[str]:
        """The command-line flags that ask for these options (for a test's rerun command)."""
        args = ["--swarm-init"] if self.init else []
        if self.hosts:
            args += ["--swarm-hosts", ",".join(self.hosts)]
        if self.registry:
            args += ["--swarm-registry", self.registry]
        return args
