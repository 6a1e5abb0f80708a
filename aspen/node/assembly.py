"""How a node's core, driver and service are built from its configuration: one place.

The server (`aspen.node.server.Node`) and the deterministic world (`aspen.sim.world`) both
build their nodes here, so the world runs the node as it ships: the same Raft settings, the
same snapshot thresholds, the same service. What differs is passed in: the storage, the
transport, the random source, the executor for storage writes.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

from aspen.config import NodeConfig
from aspen.node.driver import RaftDriver, Transport
from aspen.node.kv_service import AspenService
from aspen.node.peers import AddressBook
from aspen.node.service import PeerAddress
from aspen.node.storage import NodeStorage
from aspen.raft import Entry, RaftConfig, RawNode

CoreFactory = Callable[[], RawNode]


def core_factory(config: NodeConfig, storage: NodeStorage, rng: random.Random) -> CoreFactory:
    """Builds the core as a (re)start does: from what storage holds, applied index included.

    The driver calls it again to rebuild the core after a full map (`RaftDriver(rebuild=...)`).
    """
    base = RaftConfig(
        id=config.node_id,
        election_tick=config.election_ticks,
        heartbeat_tick=config.heartbeat_ticks,
        max_entries_per_msg=config.max_proposal_batch,
    )

    def build() -> RawNode:
        applied = dataclasses.replace(base, applied=storage.applied_index())
        return RawNode(applied, storage.raft_view, rng)

    return build


def make_driver(
    config: NodeConfig,
    build_core: CoreFactory,
    storage: NodeStorage,
    transport: Transport,
    *,
    leader_address: Callable[[int], Any],
    on_applied: Callable[[Sequence[Entry]], None],
    executor: Executor | None = None,
) -> RaftDriver:
    return RaftDriver(
        build_core(),
        storage,
        transport,
        tick_seconds=config.tick_ms / 1000,
        leader_address=leader_address,
        on_applied=on_applied,
        snapshot_threshold=config.snapshot_threshold,
        snapshot_bytes=config.map_size // 8,
        rebuild=build_core,
        executor=executor,
    )


def make_service(
    config: NodeConfig,
    driver: RaftDriver,
    storage: NodeStorage,
    peers: AddressBook,
    version: str,
) -> AspenService:
    return AspenService(
        node_id=config.node_id,
        cluster_id=config.cluster_id,
        driver=driver,
        storage=storage,
        peers=peers,
        self_address=PeerAddress(config.raft_advertised, config.http_advertised),
        data_dir=config.data_dir,
        fsync=config.fsync,
        version=version,
        promote_max_lag=config.promote_max_lag,
    )
