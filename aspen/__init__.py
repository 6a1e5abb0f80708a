"""Aspen: a Raft-replicated key-value store."""
