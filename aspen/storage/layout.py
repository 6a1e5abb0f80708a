"""How Aspen's records are laid out as LMDB keys and values (format version 1).

Named databases in one environment:

``log``       8-byte big-endian index -> 8-byte big-endian term, 1-byte kind, data
``meta``      b"format" (u32), b"node_id" (u64), b"cluster_id" (UTF-8), b"hard_state"
              (term, vote, commit: 3 x u64), b"log_start" (index, term of the entry just before
              the first one in ``log``: the last snapshot's, or the last compacted one), and
              b"snapshot_meta" (msgpack [index, term, conf state]) of the image in ``snapshot``
``snapshot``  the last snapshot's state-machine image, in chunks: b"image/" + u32 chunk number
              -> at most ``IMAGE_CHUNK`` bytes (an older data dir may hold it whole under
              b"image"). One value of many MiB needs as many contiguous free pages, which a
              map fragmented by compaction may not have although it has room (see ``space``)
``kv``        the state machine, keyed as below
``applied``   b"index" (u64): the last applied entry; b"conf_state": the membership it produced

A state-machine key is stored as ``b"k" + key`` (the prefix lets the empty key exist). LMDB keys
stop at 511 bytes, and commands allow 4 KiB keys: a key of more than ``RAW_KEY_MAX`` bytes is
stored as ``b"k" + first 478 bytes + sha256(key)`` (exactly 511 bytes) with the rest of the key
at the front of its value. Byte order of stored keys then matches key order everywhere except
among long keys sharing their first 478 bytes, which ``scan`` sorts among themselves.
"""

from __future__ import annotations

import hashlib
import struct

import msgpack

from aspen.raft.messages import ConfState, Entry, EntryKind, HardState, SnapshotMeta

FORMAT_VERSION = 1

DB_LOG = b"log"
DB_META = b"meta"
DB_SNAPSHOT = b"snapshot"
DB_KV = b"kv"
DB_APPLIED = b"applied"
DATABASES = (DB_LOG, DB_META, DB_SNAPSHOT, DB_KV, DB_APPLIED)

META_FORMAT = b"format"
META_NODE_ID = b"node_id"
META_CLUSTER_ID = b"cluster_id"
META_HARD_STATE = b"hard_state"
META_LOG_START = b"log_start"
META_SNAPSHOT = b"snapshot_meta"
SNAPSHOT_IMAGE = b"image"
"""The whole image in one value (what format 1 wrote first; still read)."""
IMAGE_PREFIX = b"image/"
IMAGE_CHUNK = 2000
APPLIED_INDEX = b"index"
APPLIED_CONF = b"conf_state"

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U64X2 = struct.Struct(">QQ")
_U64X3 = struct.Struct(">QQQ")
_ENTRY_HEAD = struct.Struct(">QB")
_KINDS = tuple(EntryKind)

# --- integers and Raft records -----------------------------------------------------------------


def u32(n: int) -> bytes:
    return _U32.pack(n)


def read_u32(b: bytes) -> int:
    (n,) = _U32.unpack(b)
    return int(n)


def u64(n: int) -> bytes:
    return _U64.pack(n)


def read_u64(b: bytes) -> int:
    (n,) = _U64.unpack(b)
    return int(n)


index_key = u64
"""The ``log`` key of an index: big-endian, so byte order is index order."""


def entry_value(e: Entry) -> bytes:
    return _ENTRY_HEAD.pack(e.term, e.kind) + e.data


def read_entry(index: int, value: bytes) -> Entry:
    term, kind = _ENTRY_HEAD.unpack_from(value)
    return Entry(term, index, _KINDS[kind], value[_ENTRY_HEAD.size :])


def entry_term(value: bytes) -> int:
    (term,) = _U64.unpack_from(value)
    return int(term)


def hard_state_value(hs: HardState) -> bytes:
    return _U64X3.pack(hs.term, hs.vote, hs.commit)


def read_hard_state(b: bytes | None) -> HardState:
    return HardState() if b is None else HardState(*_U64X3.unpack(b))


def log_start_value(index: int, term: int) -> bytes:
    return _U64X2.pack(index, term)


def read_log_start(b: bytes | None) -> tuple[int, int]:
    if b is None:
        return 0, 0
    index, term = _U64X2.unpack(b)
    return int(index), int(term)


def _conf_list(cs: ConfState) -> list[list[int]]:
    return [sorted(cs.voters), sorted(cs.learners), sorted(cs.voters_outgoing)]


def _conf_from(raw: list[list[int]]) -> ConfState:
    voters, learners, outgoing = raw
    return ConfState(frozenset(voters), frozenset(learners), frozenset(outgoing))


def conf_state_value(cs: ConfState) -> bytes:
    packed: bytes = msgpack.packb(_conf_list(cs))
    return packed


def read_conf_state(b: bytes | None) -> ConfState:
    return ConfState() if b is None else _conf_from(msgpack.unpackb(b))


def snapshot_meta_value(m: SnapshotMeta) -> bytes:
    packed: bytes = msgpack.packb([m.index, m.term, _conf_list(m.conf_state)])
    return packed


def read_snapshot_meta(b: bytes | None) -> SnapshotMeta:
    if b is None:
        return SnapshotMeta()
    index, term, conf = msgpack.unpackb(b)
    return SnapshotMeta(index, term, _conf_from(conf))


def image_chunks(image: bytes) -> list[tuple[bytes, bytes]]:
    """The ``snapshot`` records holding ``image`` (none for an empty one)."""
    return [
        (IMAGE_PREFIX + u32(n), image[at : at + IMAGE_CHUNK])
        for n, at in enumerate(range(0, len(image), IMAGE_CHUNK))
    ]


# --- state-machine keys ------------------------------------------------------------------------

KV_PREFIX = b"k"
LMDB_MAX_KEY = 511
_DIGEST = 32
HEAD_BYTES = LMDB_MAX_KEY - len(KV_PREFIX) - _DIGEST
"""478: bytes of a long key kept in its stored key."""
RAW_KEY_MAX = HEAD_BYTES
"""Keys up to this many UTF-8 bytes are stored as they are (after the prefix)."""


def is_long(stored: bytes) -> bool:
    return len(stored) == LMDB_MAX_KEY


def stored_key(kb: bytes) -> bytes:
    """The LMDB key for a state-machine key's UTF-8 bytes."""
    if len(kb) <= RAW_KEY_MAX:
        return KV_PREFIX + kb
    return KV_PREFIX + kb[:HEAD_BYTES] + hashlib.sha256(kb).digest()


def stored_value(kb: bytes, vb: bytes) -> bytes:
    """The LMDB value: the value itself, preceded by the key's tail for a long key."""
    if len(kb) <= RAW_KEY_MAX:
        return vb
    tail = kb[HEAD_BYTES:]
    return u32(len(tail)) + tail + vb


def split_stored(stored: bytes, value: bytes) -> tuple[bytes, bytes]:
    """(key bytes, value bytes) of one stored pair."""
    if not is_long(stored):
        return stored[len(KV_PREFIX) :], value
    n = read_u32(value[:4])
    tail = value[4 : 4 + n]
    return stored[len(KV_PREFIX) : len(KV_PREFIX) + HEAD_BYTES] + tail, value[4 + n :]


def value_for(stored: bytes, value: bytes | None) -> bytes | None:
    """The value bytes of a stored pair (None if absent)."""
    if value is None or not is_long(stored):
        return value
    return split_stored(stored, value)[1]
