"""Workloads: what clients do during a run, and how what they saw is checked.

``WORKLOADS`` is the registry a scenario names its workload from: each entry builds the
workload (generator, final reads and checker together) from a `WorkloadParams`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from lab.workloads.base import Completion, Invocation, OpStream, Workload
from lab.workloads.checkers import Checker, CheckerResult, LinearizableChecker, SetChecker
from lab.workloads.register import RegisterWorkload
from lab.workloads.set import SetWorkload


@dataclass(frozen=True, slots=True)
class WorkloadParams:
    """What a test tells its workload: the seed, and the register keys (if it has keys)."""

    seed: int
    keys: int = 5


WORKLOADS: dict[str, Callable[[WorkloadParams], Workload]] = {
    "register": lambda p: RegisterWorkload(seed=p.seed, keys=p.keys),
    "set": lambda p: SetWorkload(seed=p.seed),
}

__all__ = [
    "WORKLOADS",
    "Checker",
    "CheckerResult",
    "Completion",
    "Invocation",
    "LinearizableChecker",
    "OpStream",
    "RegisterWorkload",
    "SetChecker",
    "SetWorkload",
    "Workload",
    "WorkloadParams",
]
