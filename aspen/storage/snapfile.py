"""A snapshot FILE (``aspen snapshot save``) and building a data directory from one (``restore``).

The file is what an operator keeps and carries: the state machine's image at one applied index
(the same bytes a leader sends to a lagging follower), preceded by a header that says where it
came from and a SHA-256 of the image, so a damaged or truncated file is refused, never restored::

    b"ASPENSNAP\\n"  u32 header length  msgpack header  image

Restoring is offline (the etcdutl model): it builds a NEW data directory in which the image is
installed as the node's snapshot, and the node is the sole voter of a new one-node cluster, so
a node started on it elects itself and serves the data at once; others join it as learners.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import msgpack

from aspen.errors import AspenError, ProtocolError
from aspen.kv.state_machine import decode_snapshot
from aspen.raft.messages import ConfState, HardState, Snapshot, SnapshotMeta

MAGIC = b"ASPENSNAP\n"
FILE_VERSION = 1
_LEN = struct.Struct(">I")


class SnapshotFileError(AspenError):
    """The file is not a whole, undamaged Aspen snapshot; ``str(e)`` says why in one line."""


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """A decoded snapshot file: the image and what the header says about it."""

    index: int
    """The applied index the image holds the state at."""
    cluster_id: str
    node_id: int
    """The node it was taken from."""
    image: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.image).hexdigest()

    def encode(self) -> bytes:
        header: bytes = msgpack.packb(
            {
                "version": FILE_VERSION,
                "index": self.index,
                "cluster_id": self.cluster_id,
                "node_id": self.node_id,
                "size": len(self.image),
                "sha256": self.sha256,
            }
        )
        return MAGIC + _LEN.pack(len(header)) + header + self.image

    @classmethod
    def decode(cls, data: bytes) -> SnapshotFile:
        if not data.startswith(MAGIC):
            raise SnapshotFileError("not an Aspen snapshot file (bad magic)")
        at = len(MAGIC)
        if len(data) < at + _LEN.size:
            raise SnapshotFileError("truncated snapshot file (no header)")
        (n,) = _LEN.unpack_from(data, at)
        at += _LEN.size
        try:
            header = msgpack.unpackb(data[at : at + n])
            version, index = header["version"], header["index"]
            size, digest = header["size"], header["sha256"]
            cluster_id, node_id = header["cluster_id"], header["node_id"]
        except (ValueError, TypeError, KeyError, msgpack.ExtraData) as e:
            raise SnapshotFileError(f"damaged snapshot header ({e!r})") from None
        if version != FILE_VERSION:
            raise SnapshotFileError(f"snapshot file version {version!r}; this build reads 1")
        image = data[at + n :]
        if len(image) != size:
            raise SnapshotFileError(f"truncated snapshot file: image {len(image)} of {size} bytes")
        f = cls(index, cluster_id, node_id, image)
        if f.sha256 != digest:
            raise SnapshotFileError("snapshot file damaged: SHA-256 of the image does not match")
        try:
            image_index, pairs = decode_snapshot(image)
            for _ in pairs:
                pass
        except ProtocolError as e:
            raise SnapshotFileError(f"snapshot image unreadable: {e}") from None
        if image_index != index:
            raise SnapshotFileError(f"image is at index {image_index}, header says {index}")
        return f

    @classmethod
    def read(cls, path: Path) -> SnapshotFile:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise SnapshotFileError(f"{path}: {e.strerror or e}") from None
        return cls.decode(data)


RESTORED_TERM = 1
"""The term the restored log starts at: the new cluster's history begins there."""


def restore(f: SnapshotFile, data_dir: Path, node_id: int, *, map_size: int) -> None:
    """Build a new data directory at ``data_dir`` holding ``f`` as node ``node_id``'s snapshot,
    with ``node_id`` as the only voter. Refuses a directory that already holds anything."""
    from aspen.storage.lmdb import LmdbStorage

    if f.index < 1:
        raise SnapshotFileError("the snapshot is at index 0: it holds no applied state")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SnapshotFileError(f"{data_dir}: not empty; restore builds a new data directory")
    conf = ConfState(voters=frozenset({node_id}))
    snap = Snapshot(SnapshotMeta(f.index, RESTORED_TERM, conf), f.image)
    with LmdbStorage(data_dir, node_id, map_size=map_size, cluster_id=f.cluster_id or None) as s:
        s.persist(HardState(RESTORED_TERM, 0, f.index), [], snap)
