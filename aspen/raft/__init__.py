"""The Raft consensus core: a pure state machine in the style of etcd's raft.

Nothing in this package may touch the outside world: no asyncio, sockets, threads, clocks, lmdb,
msgpack or the global ``random``. Time arrives as ``tick()``, randomness from an injected
``random.Random``, and every output is drained by the caller as a ``Ready``
(``tests/raft/test_purity.py`` enforces this).
"""

from aspen.raft.config import RaftConfig
from aspen.raft.errors import (
    Compacted,
    InvalidConfChange,
    InvariantViolation,
    NotLeader,
    ProposalDropped,
    RaftError,
    Unavailable,
)
from aspen.raft.messages import (
    NONE,
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Message,
    Snapshot,
    SnapshotMeta,
)
from aspen.raft.rawnode import RawNode
from aspen.raft.ready import ReadState, Ready, Role, SoftState
from aspen.raft.status import PeerProgress, Status
from aspen.raft.storage import MemoryStorage, Storage

__all__ = [
    "NONE",
    "Compacted",
    "ConfChange",
    "ConfChangeKind",
    "ConfState",
    "Entry",
    "EntryKind",
    "HardState",
    "InvalidConfChange",
    "InvariantViolation",
    "MemoryStorage",
    "Message",
    "NotLeader",
    "PeerProgress",
    "ProposalDropped",
    "RaftConfig",
    "RaftError",
    "RawNode",
    "ReadState",
    "Ready",
    "Role",
    "Snapshot",
    "SnapshotMeta",
    "SoftState",
    "Status",
    "Storage",
    "Unavailable",
]
