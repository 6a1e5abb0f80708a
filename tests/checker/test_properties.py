"""Property tests: simulated linearizable histories pass; one mutation makes them fail."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, find, given, settings
from hypothesis import strategies as st

from lab.checker import KVModel, RegisterModel, Verdict, check
from lab.history.simulate import simulate
from tests.checker.strategies import MUTATIONS, candidates, mutate, plans

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)
KV = dict(fs=("read", "write", "cas", "delete", "append"), keys=("a", "b"), string_values=True)


@SETTINGS
@given(plans())
def test_simulated_register_histories_are_linearizable(plan):
    result = check(RegisterModel(), simulate(plan), timeout=20)
    assert result.verdict is Verdict.VALID, result.summary()


@SETTINGS
@given(plans(**KV, max_slots=5))
def test_simulated_kv_histories_are_linearizable(plan):
    result = check(KVModel(), simulate(plan), timeout=20)
    assert result.verdict is Verdict.VALID, result.summary()


@SETTINGS
@given(plans(max_slots=5, max_ops=40, unknown=False))
def test_without_unknowns_too(plan):
    assert check(RegisterModel(), simulate(plan), timeout=20).verdict is Verdict.VALID


@SETTINGS
@given(st.sampled_from(MUTATIONS), plans(min_ops=4, max_ops=24, max_slots=3), st.data())
def test_one_mutation_makes_a_register_history_invalid(kind, plan, data):
    events = simulate(plan)
    targets = candidates(kind, events)
    assume(targets)
    bad = mutate(kind, events, data.draw(st.sampled_from(targets)))
    result = check(RegisterModel(), bad, timeout=20)
    assert result.verdict is Verdict.INVALID, f"{kind}: {result.summary()}"
    cx = result.invalid[0].counterexample
    assert cx is not None and cx.culprit is not None and cx.window


@SETTINGS
@given(st.sampled_from(MUTATIONS), plans(**KV, min_ops=4, max_slots=3), st.data())
def test_one_mutation_makes_a_kv_history_invalid(kind, plan, data):
    events = simulate(plan)
    targets = candidates(kind, events)
    assume(targets)
    bad = mutate(kind, events, data.draw(st.sampled_from(targets)))
    assert check(KVModel(), bad, timeout=20).verdict is Verdict.INVALID


def test_shrinking_reduces_a_stale_read_to_its_essence() -> None:
    """Strategies draw everything from Hypothesis, so a failing example shrinks: from plans of
    up to 12 operations with random timings to a handful with minimal timings, ending with the
    write, write, read that a stale read needs."""
    plan = find(
        plans(unknown=False, max_slots=1, max_ops=12),
        lambda p: bool(candidates("stale_read", simulate(p))),
        settings=settings(max_examples=500, database=None, deadline=None, derandomize=True),
    )
    assert len(plan) <= 6
    assert [p.f for p in plan][-3:] == ["write", "write", "read"]
    assert all((p.gap, p.effect, p.reply) == (1, 1, 1) for p in plan)
    assert check(RegisterModel(), simulate(plan)).verdict is Verdict.VALID
