"""The linearizability checker: Porcupine's shape, Wing & Gong's search with Lowe's cache.

::

    from lab.checker import KVModel, check
    result = check(KVModel(), history, timeout=60)
    result.verdict        # Verdict.VALID | INVALID | UNKNOWN
    result.to_json()      # for results.json
    render_html(result)   # a self-contained timeline of the counterexample

Models: `RegisterModel` (read/write/cas), `KVModel` (a register per key, plus delete and
append), `SetModel` (Jepsen's set rule). Write your own by subclassing `Model`.
"""

from lab.checker.check import check, check_partition, operations_of
from lab.checker.html import render_html, render_partition_svg, write_html
from lab.checker.model import ANY, ILLEGAL, Model, ModelError
from lab.checker.models import MODELS, model_for
from lab.checker.registers import KVModel, RegisterModel, freeze
from lab.checker.result import Counterexample, PartitionResult, Result, Verdict
from lab.checker.search import SearchResult, search
from lab.checker.sets import SetModel
from lab.checker.timeline import SearchOp

__all__ = [
    "ANY",
    "ILLEGAL",
    "MODELS",
    "Counterexample",
    "KVModel",
    "Model",
    "ModelError",
    "PartitionResult",
    "RegisterModel",
    "Result",
    "SearchOp",
    "SearchResult",
    "SetModel",
    "Verdict",
    "check",
    "check_partition",
    "freeze",
    "model_for",
    "operations_of",
    "render_html",
    "render_partition_svg",
    "search",
    "write_html",
]
