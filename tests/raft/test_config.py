"""RaftConfig rejects bad values at construction, naming the field."""

from __future__ import annotations

import pytest

from aspen.errors import ConfigError
from aspen.raft import RaftConfig


def test_defaults_are_valid() -> None:
    cfg = RaftConfig(id=1)
    assert cfg.election_tick == 10 and cfg.heartbeat_tick == 1
    assert cfg.pre_vote and cfg.check_quorum


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"id": 0}, "id"),
        ({"id": -3}, "id"),
        ({"id": 1, "election_tick": 0}, "election_tick"),
        ({"id": 1, "heartbeat_tick": 0}, "heartbeat_tick"),
        ({"id": 1, "heartbeat_tick": 10, "election_tick": 10}, "heartbeat_tick"),
        ({"id": 1, "max_size_per_msg": 0}, "max_size_per_msg"),
        ({"id": 1, "max_entries_per_msg": 0}, "max_entries_per_msg"),
        ({"id": 1, "max_inflight_msgs": 0}, "max_inflight_msgs"),
        ({"id": 1, "snapshot_chunk_size": 0}, "snapshot_chunk_size"),
        ({"id": 1, "max_inflight_snapshot_chunks": 0}, "max_inflight_snapshot_chunks"),
        ({"id": 1, "applied": -1}, "applied"),
    ],
)
def test_invalid_field_is_named(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        RaftConfig(**kwargs)
    assert exc.value.field == field
    assert str(exc.value).startswith(f"{field}:")


def test_config_is_frozen() -> None:
    cfg = RaftConfig(id=1)
    with pytest.raises(AttributeError):
        cfg.id = 2  # type: ignore[misc]
