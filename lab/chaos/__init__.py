"""Faults: what to break (pure grudge functions), how (nemeses), and when (scenarios)."""
