"""The knobs of one Raft node, validated once at construction."""

from __future__ import annotations

from dataclasses import dataclass

from aspen.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Configuration of one :class:`aspen.raft.rawnode.RawNode`.

    Times are in ticks (the driver decides how long a tick is). Every field is checked in
    ``__post_init__`` so that a bad value fails at startup with the field's name, never later in
    the middle of an election.
    """

    id: int
    """This node's id. Invariant: ``id > 0`` (0 is ``NONE``)."""
    election_tick: int = 10
    """Followers wait a random ``[election_tick, 2*election_tick)`` ticks before campaigning;
    a check-quorum leader steps down after ``election_tick`` ticks without a live majority."""
    heartbeat_tick: int = 1
    """A leader heartbeats every ``heartbeat_tick`` ticks. Invariant: ``< election_tick``."""
    max_size_per_msg: int = 1 << 20
    """Upper bound on the entry bytes of one AppendEntries (at least one entry is always sent)."""
    max_entries_per_msg: int = 256
    """Upper bound on the entry count of one AppendEntries."""
    max_inflight_msgs: int = 256
    """AppendEntries a leader pipelines to one follower before waiting for acknowledgements."""
    pre_vote: bool = True
    """Run a pre-vote round first so a partitioned node cannot inflate terms (Raft thesis §9.6)."""
    check_quorum: bool = True
    """Leader steps down without a live majority; followers honour the leader lease (§6.4)."""
    snapshot_chunk_size: int = 1 << 16
    """Bytes of snapshot data per InstallSnapshot chunk."""
    max_inflight_snapshot_chunks: int = 4
    """InstallSnapshot chunks sent to one follower before waiting for an acknowledgement."""
    applied: int = 0
    """On restart: the index the state machine has already applied (it will not get it again)."""

    def __post_init__(self) -> None:
        if self.id <= 0:
            raise ConfigError("id", f"must be > 0, got {self.id}")
        if self.election_tick <= 0:
            raise ConfigError("election_tick", f"must be > 0, got {self.election_tick}")
        if self.heartbeat_tick <= 0:
            raise ConfigError("heartbeat_tick", f"must be > 0, got {self.heartbeat_tick}")
        if self.heartbeat_tick >= self.election_tick:
            raise ConfigError(
                "heartbeat_tick",
                f"must be < election_tick ({self.election_tick}), got {self.heartbeat_tick}",
            )
        for name in (
            "max_size_per_msg",
            "max_entries_per_msg",
            "max_inflight_msgs",
            "snapshot_chunk_size",
            "max_inflight_snapshot_chunks",
        ):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigError(name, f"must be > 0, got {value}")
        if self.applied < 0:
            raise ConfigError("applied", f"must be >= 0, got {self.applied}")
