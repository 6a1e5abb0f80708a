"""Bugs planted in the Ready processor are found by the simulator, within a bounded seed budget.

Each plant is a subclass handed to ``run(processor=...)`` (ordinary dependency injection: the
nodes build their processor from it); production code has no hook for it. Seeds run in order
until one run reports a violation, so the test takes as long as finding the bug does.
"""

from __future__ import annotations

from aspen.kv.commands import CommandResult
from aspen.raft import RawNode
from aspen.raft.ready_processor import ReadyProcessor, Step
from aspen.sim.client import Op
from aspen.sim.run import run

SEED_BUDGET = 1000
STEPS = 1500


class AnswersBeforeDurable(ReadyProcessor[RawNode, CommandResult | None, Op]):
    """PLANTED BUG: a proposal is answered ok as soon as its entry is in the leader's own Ready,
    before it is durable, let alone committed and applied."""

    def begin(self) -> Step | None:
        step = super().begin()
        if step is not None:
            for e in step.ready.entries:
                parked = self._waiters.pop(e.index, None)
                if parked is not None and parked[0] == e.term:
                    self.outcomes.proposal_applied(parked[1], e, None)
        return step


def first_violation(processor: type[ReadyProcessor[RawNode, CommandResult | None, Op]]) -> str:
    for seed in range(SEED_BUDGET):
        violation = run(seed, STEPS, processor=processor).violation
        if violation is not None:
            return violation
    raise AssertionError(f"the planted bug survived {SEED_BUDGET} seeds")


def test_answering_a_proposal_before_it_is_durable_is_found() -> None:
    violation = first_violation(AnswersBeforeDurable)
    assert "lost acknowledged write" in violation, violation
    assert "replay: nox -s sim -- --seed " in violation
