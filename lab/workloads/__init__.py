"""Workloads: what clients do during a run, and how what they saw is checked."""

from lab.workloads.base import Completion, Invocation, OpStream, Workload
from lab.workloads.register import RegisterWorkload
from lab.workloads.set import SetWorkload

WORKLOADS = {"register": RegisterWorkload, "set": SetWorkload}

__all__ = [
    "WORKLOADS",
    "Completion",
    "Invocation",
    "OpStream",
    "RegisterWorkload",
    "SetWorkload",
    "Workload",
]
