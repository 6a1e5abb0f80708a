"""The root of every error Aspen raises on purpose.

::

    AspenError
    ├── RaftError                 (aspen.raft.errors)  the core refused an input
    │   ├── NotLeader             propose/read_index/transfer on a node that is not leader
    │   ├── ProposalDropped       leader is transferring or a conf change is already pending
    │   ├── InvalidConfChange     a membership change that can never apply (no voters left)
    │   └── PeerProtocolError     a peer's message no correct peer sends: rejected, counted
    ├── InvariantViolation        (aspen.raft.errors)  OUR core reached an impossible state:
    │                             never caught, the node stops (deliberately not a RaftError)
    ├── StorageError              (aspen.raft.errors)  what the storage contract may raise
    │   ├── Compacted             the index is below the first available index
    │   ├── Unavailable           the index is above the last index
    │   ├── StorageFullError      (aspen.storage.errors)  the map or disk is full
    │   ├── StorageIOError        a read or write failed
    │   └── DataDirError          the data dir cannot be used (one line says why)
    │       ├── StorageCorruptError
    │       └── ForeignDataDirError   another node's, another cluster's, not Aspen's
    ├── ConfigError               a configuration field is invalid (names the field)
    └── ProtocolError             bytes from a peer or client could not be decoded
        ├── LocalProtocolError    we produced something the protocol forbids
        └── RemoteProtocolError   the other side sent garbage or an oversize frame

Third-party exceptions (lmdb, aiohttp, OSError) are translated into these at the edge.
"""

from __future__ import annotations


class AspenError(Exception):
    """Base of every deliberate Aspen error."""


class ConfigError(AspenError):
    """An invalid configuration value; ``field`` names it so the CLI can print one line."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ProtocolError(AspenError):
    """Bytes that do not follow the wire protocol."""


class LocalProtocolError(ProtocolError):
    """We were asked to produce something the protocol forbids (e.g. a frame over the limit)."""


class RemoteProtocolError(ProtocolError):
    """The remote side sent something undecodable; the connection must be closed."""
