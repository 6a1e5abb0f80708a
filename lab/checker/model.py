"""`Model`: a sequential specification, shaped like Porcupine's (``model.go``).

A model says what one object does when operations run one at a time: `init` is the first state,
`step` applies one operation's input and output to a state and says whether that output was
possible, `partition` splits a history into independent sub-histories (one per key), and
`describe` renders an operation for people. The checker searches for an order of a
partition's operations, consistent with real time, in which every `step` is legal.

States must be hashable and immutable: the search memoizes (linearized set, state) pairs.

Two hooks make the pure-Python search fast without changing what a model means:

* `compile` turns one operation into a function ``state -> new state | ILLEGAL`` (the default
  wraps `step`), so the hot loop makes one call per attempt and no tuple unpacking; returning
  None says the operation neither constrains nor changes the state (an unknown read), and the
  checker drops it.
* `ANY`, a wildcard state, lets the checker test a *window* of a history from "whatever state
  the earlier operations left": a model that sets ``supports_any = True`` promises its compiled
  steps accept ANY (becoming concrete where an output reveals the state). Checking a window from
  ANY is a relaxation, so a window that still fails is a real violation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeVar

from lab.checker.timeline import SearchOp
from lab.history.op import UNKNOWN, Operation

if TYPE_CHECKING:
    from lab.checker.result import PartitionResult

S = TypeVar("S", bound=Hashable)

StepFn = Callable[[Any], Any]
"""A compiled operation: ``state -> new state``, or `ILLEGAL` when the output is impossible."""

Placing = tuple[Any, ...]
"""What revision-guided checking needs of an operation (`Model.placings`): 1 for an
observation (`Model.is_read_only`), else 0; `Model.is_blind`; then the model's own fields,
which `Model.replay` reads (one flat tuple: a history may hold a million)."""


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


ILLEGAL: Final = _Sentinel("ILLEGAL")
"""What a compiled step returns when the operation's output is impossible in that state."""

ANY: Final = _Sentinel("ANY")
"""The wildcard state: any value at all (see the module docstring)."""


class ModelError(Exception):
    """The model cannot interpret an operation (unknown ``f``, malformed value)."""


class Model(ABC, Generic[S]):
    """A sequential specification (Porcupine's ``Model``); subclass and implement `init`, `step`.

    ``name`` is how results and the CLI refer to the model.
    """

    name: ClassVar[str] = "model"
    supports_any: ClassVar[bool] = False

    @abstractmethod
    def init(self) -> S:
        """The state before any operation."""

    @abstractmethod
    def step(self, state: S, input: Any, output: Any) -> tuple[bool, S]:
        """Apply one operation: (was ``output`` possible in ``state``?, the next state).

        ``output`` is `lab.history.op.UNKNOWN` for an operation whose outcome is unknown:
        any output is then possible, but the operation may still change the state.
        """

    def input(self, op: Operation) -> Any:
        """What `step` receives as input for ``op`` (default: ``(f, invoke value)``)."""
        return (op.f, op.input)

    def output(self, op: Operation) -> Any:
        """What `step` receives as output for ``op`` (default: the ok value, or UNKNOWN)."""
        return op.output

    def partition(self, ops: Sequence[Operation]) -> dict[Hashable, list[Operation]]:
        """Independent sub-histories, each checked alone (default: one per ``key``)."""
        parts: dict[Hashable, list[Operation]] = {}
        for op in ops:
            parts.setdefault(op.key, []).append(op)
        return parts

    def describe(self, op: Operation) -> str:
        """A short human rendering of one operation, e.g. ``write(3)`` or ``read() -> 3``."""
        out = "?" if op.output is UNKNOWN else repr(op.output)
        return f"{op.f}({op.input!r}) -> {out}"

    def describe_state(self, state: S) -> str:
        """A short human rendering of a state (for counterexamples)."""
        return repr(state)

    def symmetry_key(self, op: Operation) -> Hashable | None:
        """For an operation with an unknown outcome: a key equal for operations with the same
        effect (same input), which the search may then place in call order only. None (the
        default) claims nothing. Must agree with `compile`.
        """
        return None

    def is_read_only(self, op: Operation) -> bool:
        """True when ``op`` only observes the state (a read). Revision-guided checking places
        it just after the revision it reports, where a state change sits at its own; False
        (the default) treats every operation as a change.
        """
        return False

    def is_blind(self, op: Operation) -> bool:
        """True when ``op``'s compiled step ignores the state (a plain write). False (the
        default) is always safe; True lets the search skip pointless orders of unknown ops.
        """
        return False

    def resets(self, op: Operation) -> tuple[Any, ...] | None:
        """The states ``op`` can leave behind beyond what `frontier` tests foresee: () for
        an operation that only reads or grows the state, (value,) for a write, None (the
        default, always safe) for "anything".
        """
        return None

    def frontier(self, op: Operation) -> Callable[[Any], bool] | None:
        """For an operation with a known output: a test of whether a state could still lead
        to that output if only non-`disturbs` operations run first. The search abandons a
        configuration as soon as the most urgent operation fails it with no disturbing
        operation able to intervene. None (the default) claims nothing.
        """
        return None

    def decide(self, key: Hashable, ops: Sequence[Operation]) -> PartitionResult | None:
        """A verdict on one partition by a rule of the model's own, instead of the search:
        `lab.checker.sets.SetModel` applies Jepsen's set rule, cheap at any size. None (the
        default): search for a linearization.
        """
        return None

    def compile(self, op: Operation) -> StepFn | None:
        """``op`` as a function of the state (see the module docstring); None drops it."""
        step = self.step
        inp = self.input(op)
        out = self.output(op)

        def compiled(state: Any) -> Any:
            ok, new = step(state, inp, out)
            return new if ok else ILLEGAL

        return compiled

    def placings(self, ops: Sequence[Operation]) -> list[Placing | None]:
        """Each operation as revision-guided checking (`lab.checker.revisions`) places and
        replays it (`Placing`), or None for one `compile` drops. The default lowers each
        (`lower`) and adds its compiled step. A model may answer for the whole list in one
        pass with fields of its own, which its `replay` then reads (registers do: a history
        with revisions is mostly replayed, and a closure compiled per operation would be
        most of its cost)."""
        out: list[Placing | None] = []
        for op in ops:
            sop = self.lower(op)
            out.append(None if sop is None else (1 if sop.read_only else 0, sop.blind, sop.step))
        return out

    def replay(self, placings: Sequence[Placing], state: Any) -> tuple[int, Any]:
        """Apply `placings` in order from ``state``: (the position of the first impossible
        one, or -1; the state before it, or at the end). The default's third field is the
        compiled step."""
        illegal = ILLEGAL
        for i, (_, _, step) in enumerate(placings):
            new = step(state)
            if new is illegal:
                return i, state
            state = new
        return -1, state

    def lower(self, op: Operation) -> SearchOp | None:
        """Everything the search needs of ``op`` (`compile` and the hooks above, as a
        `lab.checker.timeline.SearchOp`), or None when `compile` drops it. A model may
        override it to derive them all in one pass (`lab.checker.registers` does: it runs
        once per operation, the checker's main fixed cost)."""
        step = self.compile(op)
        if step is None:
            return None
        unknown = op.ret is None
        return SearchOp(
            op.call,
            op.ret,
            step,
            self.symmetry_key(op) if unknown else None,
            self.is_blind(op),
            self.resets(op),
            None if unknown else self.frontier(op),
            self.is_read_only(op),
        )
