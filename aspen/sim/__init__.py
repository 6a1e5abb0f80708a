"""A deterministic simulator that drives the real Raft core: N nodes in one process.

Each node is an ``aspen.raft.RawNode`` over a ``MemoryStorage`` (what survives a crash) with a
``MemoryKV`` state machine, driven exactly as ``Ready`` prescribes. Around them: a discrete-event
scheduler on virtual time, a network with delay, loss, duplication, reordering and partitions of
any shape, crashes and restarts, snapshots, membership changes and leadership transfers, client
processes that record a Jepsen-style history, and Raft's safety invariants checked as the run
goes. One seed fixes everything: the same seed gives byte-identical histories and traces.

Modules, one role each::

    scheduler   virtual time, event queue          network     links, delay, loss, partitions
    partitions  partition shapes (pure)            node        one node's driver; crash/restart
    invariants  Raft safety, incrementally         client      client processes, outcomes
    history     JSONL history and trace            cluster     everything wired; nemesis verbs
    nemesis     fault schedule of a seeded run     run         one seeded run and its summary
    bench       throughput benchmark               __main__    the CLI (``nox -s sim``)
"""
