"""The Raft consensus core: a pure state machine in the style of etcd's raft.

Nothing in this package may touch the outside world: no asyncio, sockets, threads, clocks, lmdb,
msgpack or the global ``random``. Time arrives as ``tick()``, randomness from an injected
``random.Random``, and every output is drained by the caller as a ``Ready``
(``tests/raft/test_purity.py`` enforces this).
"""
