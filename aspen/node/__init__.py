"""The running node: the driver around the Raft core, and the service the HTTP API calls."""
