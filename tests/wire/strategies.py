"""Hypothesis strategies that build arbitrary wire frames (every message type and Hello)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from aspen.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    ConfState,
    Entry,
    EntryKind,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    RequestVote,
    RequestVoteResponse,
    SnapshotMeta,
    TimeoutNow,
)
from aspen.wire import Auth, Challenge, Hello, Ping

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
small = st.integers(min_value=0, max_value=1000)
ints = st.one_of(small, u64)
blobs = st.binary(max_size=64)
ids = st.frozensets(ints, max_size=5)

entries = st.builds(Entry, ints, ints, st.sampled_from(EntryKind), blobs)
conf_states = st.builds(ConfState, ids, ids, ids)
snapshot_metas = st.builds(SnapshotMeta, ints, ints, conf_states)

MESSAGE_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    RequestVote: st.builds(RequestVote, ints, ints, ints, ints, ints, st.booleans(), st.booleans()),
    RequestVoteResponse: st.builds(
        RequestVoteResponse, ints, ints, ints, st.booleans(), st.booleans()
    ),
    AppendEntries: st.builds(
        AppendEntries, ints, ints, ints, ints, ints, st.lists(entries, max_size=5).map(tuple), ints
    ),
    AppendEntriesResponse: st.builds(
        AppendEntriesResponse, ints, ints, ints, ints, st.booleans(), ints, ints
    ),
    Heartbeat: st.builds(Heartbeat, ints, ints, ints, ints, blobs),
    HeartbeatResponse: st.builds(HeartbeatResponse, ints, ints, ints, blobs),
    InstallSnapshot: st.builds(
        InstallSnapshot, ints, ints, ints, snapshot_metas, ints, blobs, st.booleans()
    ),
    InstallSnapshotResponse: st.builds(
        InstallSnapshotResponse, ints, ints, ints, ints, ints, st.booleans(), st.booleans()
    ),
    TimeoutNow: st.builds(TimeoutNow, ints, ints, ints),
}
"""One strategy per message type (a test checks that every type has one)."""

messages = st.one_of(*MESSAGE_STRATEGIES.values())
hellos = st.builds(Hello, ints, st.text(max_size=20), ints, st.text(max_size=20), blobs)
controls = st.one_of(
    hellos,
    st.builds(Challenge, ints, blobs, blobs),
    st.builds(Auth, blobs),
    st.just(Ping()),
)
frames = st.one_of(messages, controls)
