"""Models by name, and the default model for a history (what ``aspen-lab check`` uses)."""

from __future__ import annotations

from typing import Any, Final

from lab.checker.model import Model
from lab.checker.registers import KVModel, RegisterModel
from lab.checker.sets import SetModel
from lab.history.history import History
from lab.history.pairing import normalize_f

MODELS: Final = ("register", "kv", "set")


def model_for(name: str | None, history: History | None = None) -> Model[Any]:
    """The model called ``name``, or the one the history's operations suggest when None.

    The history also decides the value of a key never written (``History.absent``: "" for
    Porcupine's kv histories). Guessing: any ``add`` means set; append, delete, or keys mean
    kv; otherwise register.
    """
    absent = history.absent if history is not None else None
    if name is None:
        name = guess_model(history) if history is not None else "register"
    if name == "register":
        return RegisterModel(absent=absent)
    if name == "kv":
        return KVModel(absent=absent)
    if name == "set":
        return SetModel()
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def guess_model(history: History) -> str:
    """register, kv or set, from the operations' ``f`` and ``key``."""
    fs = set()
    keyed = False
    for e in history.events:
        if e.is_nemesis:
            continue
        fs.add(normalize_f(e.f))
        keyed = keyed or e.key is not None
    if "add" in fs:
        return "set"
    if keyed or fs & {"append", "delete"}:
        return "kv"
    return "register"
