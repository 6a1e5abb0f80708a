"""Attacks on real node processes, as an outsider would make them: raw sockets, raw frames,
floods, full disks, hostile HTTP. None of them may make a node exit."""
