"""Errors raised while reading or interpreting a history.

::

    AspenError                 (aspen.errors)
    └── HistoryError           a history is not well formed (e.g. a completion with no invoke)
        └── HistoryFormatError one line of one file could not be parsed; names file and line

Both carry enough to print one line for the user: ``str(err)`` is ``FILE:LINE: message``, or
``FILE:LINE:COLUMN: message`` when the reader knows the column (EDN forms span lines).
"""

from __future__ import annotations

from aspen.errors import AspenError


class HistoryError(AspenError):
    """A history that cannot be interpreted: the message says which event and why."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ):
        where = ""
        at = "" if line is None else f"{line}:" if column is None else f"{line}:{column}:"
        if source is not None:
            where = f"{source}:{at} " if at else f"{source}: "
        elif line is not None:
            where = f"line {line}" + ("" if column is None else f", column {column}") + ": "
        super().__init__(where + message)
        self.source = source
        self.line = line
        self.column = column
        self.reason = message


class HistoryFormatError(HistoryError):
    """One line could not be parsed in the format it was read as."""
