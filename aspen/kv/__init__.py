"""The key-value state machine Raft replicates: commands, their encoding, and how they apply."""
