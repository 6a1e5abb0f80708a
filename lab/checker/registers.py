"""Registers: `RegisterModel` (read/write/cas) and `KVModel` (a register per key, plus delete
and append). Both partition by key, so a keyed history is a set of independent registers.

Values are compared after `freeze` (lists become tuples), so JSON lists work as values. The
state of a key never written is ``absent`` (None in the lab; Porcupine's kv histories use "").

====================  ===============================  ====================================
f (synonym)           input / output                   meaning
====================  ===============================  ====================================
read (get)            ok value = value read            legal iff it equals the state
write (put)           value                            state := value
cas                   value [expected, new]            legal iff state == expected; := new
cas, compare failed   ok value false                   legal iff state != expected
delete (kv)           --                               state := absent
append (kv)           value (a string)                 state := state + value
====================  ===============================  ====================================

An unknown outcome (info) leaves the output unconstrained: an unknown read is dropped, an
unknown cas applies if the expected value matches (placing it last models "never happened").
A cas whose compare failed (`lab.history.op.COMPARE_FAILED`) is a read that says only what the
register did *not* hold, as Porcupine's etcd model reads Jepsen's ``:fail :cas``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar, Final

from lab.checker.model import ANY, ILLEGAL, Model, ModelError, Placing, StepFn
from lab.checker.timeline import SearchOp
from lab.history.op import COMPARE_FAILED, F_SYNONYMS, UNKNOWN, Operation
from lab.history.pairing import normalize_f

_READ, _CAS, _SET, _DIFFERS, _MAYBE_CAS, _APPEND = range(6)
"""`RegisterModel.replay`'s instruction codes: a known read, an ok cas, a write or delete,
a cas whose compare failed, a cas of unknown outcome, an append."""


_new: Final = tuple.__new__

_ATOMS: Final = frozenset({int, str, float, bool, type(None)})
"""Types `freeze` returns as they are."""


def freeze(value: Any) -> Any:
    """A hashable, comparable copy of a JSON-shaped value (lists to tuples, dicts to items)."""
    t = type(value)
    if t is int or t is str or value is None:  # the common case, first
        return value
    if isinstance(value, list | tuple):
        return tuple([freeze(v) for v in value])
    if isinstance(value, dict):
        return tuple(sorted((freeze(k), freeze(v)) for k, v in value.items()))
    return value


def _show(value: Any) -> str:
    return "nil" if value is None else repr(value)


class RegisterModel(Model[Any]):
    """A read/write/compare-and-set register (Jepsen's cas-register), one per key."""

    name: ClassVar[str] = "register"
    supports_any: ClassVar[bool] = True
    FS: ClassVar[frozenset[str]] = frozenset({"read", "write", "cas"})

    def __init__(self, absent: Any = None) -> None:
        self.absent: Final = freeze(absent)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(absent={self.absent!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RegisterModel)
            and type(other) is type(self)
            and other.absent == self.absent
        )

    def __hash__(self) -> int:
        return hash((type(self), self.absent))

    def init(self) -> Any:
        return self.absent

    def _kind(self, f: str) -> str:
        kind = F_SYNONYMS.get(f, f)  # normalize_f, inlined: this runs once per operation
        if kind not in self.FS:
            raise ModelError(f"the {self.name} model has no operation {f!r}")
        return kind

    def input(self, op: Operation) -> Any:
        kind = self._kind(op.f)
        value = freeze(op.input)
        if kind == "cas" and not (isinstance(value, tuple) and len(value) == 2):
            raise ModelError(f"cas needs [expected, new], got {op.input!r} (op {op.id})")
        return (kind, value)

    def output(self, op: Operation) -> Any:
        return op.output if op.output is UNKNOWN else freeze(op.output)

    def step(self, state: Any, input: Any, output: Any) -> tuple[bool, Any]:
        kind, value = input
        unknown = output is UNKNOWN
        if kind == "read":
            if unknown:
                return True, state
            if state is ANY:
                return True, output
            return state == output, state
        if kind == "write":
            return True, value
        if kind == "cas":
            expected, new = value
            if output is COMPARE_FAILED:  # it observed a value other than expected
                return state is ANY or state != expected, state
            if state is ANY:
                return True, (ANY if unknown else new)
            if state == expected:
                return True, new
            return unknown, state
        if kind == "delete":
            return True, self.absent
        if kind == "append":
            if state is ANY:
                return True, ANY
            new = _append(self.absent if state is None else state, value)
            return (False, state) if new is ILLEGAL else (True, new)
        raise ModelError(f"unknown operation {kind!r}")

    def symmetry_key(self, op: Operation) -> Hashable | None:
        # An unknown outcome's compiled step depends on the input alone.
        return self.input(op) if op.output is UNKNOWN else None

    def is_read_only(self, op: Operation) -> bool:
        f = F_SYNONYMS.get(op.f, op.f)
        return f == "read" or (f == "cas" and op.output is COMPARE_FAILED)

    def is_blind(self, op: Operation) -> bool:
        return normalize_f(op.f) in ("write", "delete")

    def resets(self, op: Operation) -> tuple[Any, ...] | None:
        # Reads change nothing and appends only extend, which `frontier` allows for.
        kind, value = self.input(op)
        if kind in ("read", "append"):
            return ()
        if kind == "write":
            return (value,)
        if kind == "cas":
            return () if op.compare_failed else (value[1],)
        if kind == "delete":
            return (self.absent,)
        return None

    def frontier(self, op: Operation) -> Callable[[Any], bool] | None:
        if op.output is UNKNOWN:
            return None
        kind, value = self.input(op)
        if kind == "read":
            target = self.output(op)
        elif kind == "cas" and not op.compare_failed:
            target = value[0]
        else:
            return None
        return _grows_into(target)

    def compile(self, op: Operation) -> StepFn | None:
        kind, value = self.input(op)
        return self.compile_parsed(kind, value, self.output(op))

    def compile_parsed(self, kind: str, value: Any, out: Any) -> StepFn | None:
        """`compile` from the parsed input (`input`) and output (`output`)."""
        any_ = ANY
        illegal = ILLEGAL
        if kind == "read":
            if out is UNKNOWN:
                return None

            def read(s: Any, v: Any = out) -> Any:
                return s if s == v else (v if s is any_ else illegal)

            return read
        if kind == "write":

            def write(s: Any, v: Any = value) -> Any:
                return v

            return write
        if kind == "cas":
            expected, new = value
            if out is UNKNOWN:

                def maybe_cas(s: Any, e: Any = expected, n: Any = new) -> Any:
                    return n if s == e else s

                return maybe_cas
            if out is COMPARE_FAILED:

                def cas_failed(s: Any, e: Any = expected) -> Any:
                    return illegal if s == e else s

                return cas_failed

            def cas(s: Any, e: Any = expected, n: Any = new) -> Any:
                return n if s == e or s is any_ else illegal

            return cas
        if kind == "delete":

            def delete(s: Any, a: Any = self.absent) -> Any:
                return a

            return delete
        if kind == "append":
            absent = self.absent

            def append(s: Any, v: Any = value) -> Any:
                if s is any_:
                    return any_
                return _append(absent if s is None else s, v)

            return append
        raise ModelError(f"unknown operation {kind!r}")

    def lower(self, op: Operation) -> SearchOp | None:
        # `compile`, `symmetry_key`, `is_blind`, `resets` and `frontier` in one pass: each
        # parses the operation again, and this runs once per operation of every history.
        f = op.f
        kind = F_SYNONYMS.get(f, f)
        value = op.input
        if kind not in self.FS or (
            kind == "cas" and (type(value) is not list or len(value) != 2)
        ):  # fmt: skip
            kind, value = self.input(op)  # raises unless a tuple pair: the rare path
        elif type(value) not in _ATOMS:
            value = freeze(value)
        output = op.output
        unknown = output is UNKNOWN
        if not unknown and type(output) not in _ATOMS:
            output = freeze(output)
        step = self.compile_parsed(kind, value, output)
        if step is None:
            return None
        sig = (kind, value) if unknown and op.ret is None else None
        frontier: Callable[[Any], bool] | None = None
        read_only = False
        if kind == "read":
            read_only = True
            resets: tuple[Any, ...] = ()
            if not unknown and op.ret is not None:
                frontier = _grows_into(output)
        elif kind == "write":
            resets = (value,)
        elif kind == "cas":
            if output is COMPARE_FAILED:
                read_only = True
                resets = ()
            else:
                resets = (value[1],)
                if not unknown and op.ret is not None:
                    frontier = _grows_into(value[0])
        elif kind == "delete":
            resets = (self.absent,)
        else:  # append
            resets = ()
        blind = kind == "write" or kind == "delete"
        # (tuple.__new__ directly: the named tuple's own constructor is a Python call more.)
        return _new(SearchOp, (op.call, op.ret, step, sig, blind, resets, frontier, read_only))

    def placings(self, ops: Sequence[Operation]) -> list[Placing | None]:
        # One pass, no closures: (observes, blind, code, a, b), which `replay` interprets.
        out: list[Placing | None] = []
        add = out.append
        synonyms, fs, failed, unknown = F_SYNONYMS, self.FS, COMPARE_FAILED, UNKNOWN
        atoms = _ATOMS
        for op in ops:
            f = op.f
            kind = synonyms.get(f, f)
            if kind not in fs:
                self._kind(f)  # raises: the model has no such operation
            output = op.output
            if kind == "read":
                if output is unknown:
                    add(None)
                    continue
                if type(output) not in atoms:
                    output = freeze(output)
                add((1, False, _READ, output, None))
            elif kind == "cas":
                value = op.input
                if type(value) is not list or len(value) != 2:
                    value = freeze(value)
                    if type(value) is not tuple or len(value) != 2:
                        self.input(op)  # raises: not [expected, new]
                e, n = value
                if type(e) not in atoms:
                    e = freeze(e)
                if type(n) not in atoms:
                    n = freeze(n)
                if output is failed:
                    add((1, False, _DIFFERS, e, None))
                else:
                    add((0, False, _MAYBE_CAS if output is unknown else _CAS, e, n))
            elif kind == "write":
                value = op.input
                add((0, True, _SET, value if type(value) in atoms else freeze(value), None))
            elif kind == "delete":
                add((0, True, _SET, self.absent, None))
            else:  # append
                add((0, False, _APPEND, freeze(op.input), None))
        return out

    def replay(self, placings: Sequence[Placing], state: Any) -> tuple[int, Any]:
        # The compiled steps of `compile_parsed`, interpreted.
        any_ = ANY
        for i, (_, _, code, a, b) in enumerate(placings):
            if code == _READ:
                if state != a:
                    if state is not any_:
                        return i, state
                    state = a
            elif code == _CAS:
                if state != a and state is not any_:
                    return i, state
                state = b
            elif code == _SET:
                state = a
            elif code == _DIFFERS:
                if state == a:
                    return i, state
            elif code == _MAYBE_CAS:
                if state == a:
                    state = b
            elif state is not any_:  # _APPEND
                new = _append(self.absent if state is None else state, a)
                if new is ILLEGAL:
                    return i, state
                state = new
        return -1, state

    def describe(self, op: Operation) -> str:
        kind = normalize_f(op.f)
        if kind == "read":
            return "read() -> " + ("?" if op.output is UNKNOWN else _show(op.output))
        if kind == "cas" and isinstance(op.input, list | tuple) and len(op.input) == 2:
            e, n = op.input
            outcome = (
                "?" if op.output is UNKNOWN else "compare failed" if op.compare_failed else "ok"
            )
            return f"cas({_show(e)}, {_show(n)}) -> {outcome}"
        if kind == "delete":
            return "delete()" + (" -> ?" if op.output is UNKNOWN else "")
        suffix = " -> ?" if op.output is UNKNOWN else ""
        return f"{kind}({_show(op.input)}){suffix}"

    def describe_state(self, state: Any) -> str:
        if state is ANY:
            return "any value"
        return "absent" if state is None else repr(state)


class KVModel(RegisterModel):
    """A key-value store: a register per key with get/put/delete/cas/append."""

    name: ClassVar[str] = "kv"
    FS: ClassVar[frozenset[str]] = frozenset({"read", "write", "cas", "delete", "append"})


def _grows_into(target: Any) -> Callable[[Any], bool]:
    """`frontier`'s test for an operation that must observe ``target``."""
    any_ = ANY
    if not isinstance(target, str | tuple):  # appends never grow into it: equality decides

        def equals(state: Any, t: Any = target) -> bool:
            return state == t or state is any_

        return equals

    if isinstance(target, str):

        def grows_str(state: Any, t: str = target) -> bool:
            return (
                state is None or state is any_ or (isinstance(state, str) and t.startswith(state))
            )

        return grows_str

    def grows(state: Any, t: Any = target) -> bool:
        return state == t or state is any_ or _may_grow_into(state, target=t)

    return grows


def _may_grow_into(state: Any, *, target: Any) -> bool:
    """Can appends alone turn ``state`` into ``target``? (ANY can become anything.)"""
    if state == target or state is ANY:
        return True
    if isinstance(target, str):
        return state is None or (isinstance(state, str) and target.startswith(state))
    if isinstance(target, tuple):
        return state is None or (isinstance(state, tuple) and target[: len(state)] == state)
    return False


def _append(state: Any, value: Any) -> Any:
    if isinstance(state, str) and isinstance(value, str):
        return state + value
    if isinstance(state, tuple):
        return (*state, value)
    if state is None:
        return value if isinstance(value, str) else (value,)
    return ILLEGAL  # appending to a number: no state makes an ok append possible
