"""The Raft consensus core: a pure state machine in the style of etcd's raft.

Nothing in this package may touch the outside world: no asyncio, sockets, threads, clocks, lmdb,
msgpack or the global ``random``. Time arrives as ``tick()``, randomness from an injected
``random.Random``, and every output is drained by the caller as a ``Ready``
(``tests/raft/test_purity.py`` enforces this).

Modules, one job each (after etcd-io/raft):

* ``rawnode``: the driver's handle (``tick``, ``step``, ``has_ready``, ``ready``, ``advance``);
* ``raft``: terms, votes, role changes (the only place they happen), ticking, membership switch;
* ``roles``: what each role does with a message; ``follower``: AppendEntries, Heartbeat and
  InstallSnapshot on the receiving side; ``replication``: the leader's sending and its handling
  of answers;
* ``log`` / ``log_unstable``: storage plus the not-yet-persisted tail, commit and apply cursors;
* ``tracker`` / ``progress`` / ``quorum``: membership, per-peer flow control, (joint) majorities;
* ``confchange``: membership changes as pure functions (joint consensus);
* ``validate``: rejects peer messages no correct peer can send, before they touch state;
* ``read_only``: ReadIndex bookkeeping; ``snapshot_transfer``: chunked snapshot streams;
* ``config``, ``status``, and the contract modules ``messages``, ``ready``, ``storage``, ``errors``.
"""

from aspen.raft.config import RaftConfig
from aspen.raft.errors import (
    Compacted,
    InvalidConfChange,
    InvariantViolation,
    NotLeader,
    PeerProtocolError,
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
    "PeerProtocolError",
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
