"""The shape of a soak, decided before it starts: how long, which windows, which faults when.

A soak is cut into *windows* of equal length. Each window gets its own key namespace
(``w0003-``), its own seed and one fault: the scenario's faults are taken in a seeded order, one
per window, so a long soak cycles through all of them. Everything here is a pure function of the
soak's seed and shape, so a rerun with the same seed makes the same plan.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence

from lab.chaos.schedule import FaultWindow

MIN_WINDOW_S = 10.0
"""A soak at least twice this long has at least two windows (a first and a last to compare)."""
FAULT_START = 0.2
"""A window's fault opens after this fraction of the window (steady load before it)."""
FAULT_SHARE = 0.3
"""A window's fault lasts this fraction of the window, within `FAULT_MIN_S`..`FAULT_MAX_S`."""
FAULT_MIN_S = 1.0
FAULT_MAX_S = 20.0

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)")


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``2m``, ``8h``, ``1h30m``, ``1.5h`` or plain ``45``; must be > 0."""
    s = text.strip().lower()
    pos, total, parts = 0, 0.0, 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            raise ValueError(f"not a duration: {text!r} (try 90s, 2m, 8h, 1h30m)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        parts += 1
        pos = m.end()
        while pos < len(s) and s[pos] == " ":
            pos += 1
    if parts == 0 or total <= 0 or not math.isfinite(total):
        raise ValueError(f"not a positive duration: {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """``2m``, ``1h30m``, ``45s``, ``1h0m5s``: the inverse of `parse_duration` for whole
    seconds."""
    whole = round(seconds)
    if abs(seconds - whole) > 1e-6:
        return f"{seconds:g}s"
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m or (h and s) else "") + (f"{s}s" if s else "")
    return out or "0s"


def plan_windows(duration: float, window: float) -> list[float]:
    """Window lengths (equal, each at most ``window``) that add up to ``duration``.

    A soak shorter than two windows still gets two (shorter) ones when each can be at least
    `MIN_WINDOW_S`, so p99 drift always has a first and a last window to compare.
    """
    if duration <= 0 or window <= 0:
        raise ValueError("duration and window must be > 0")
    n = max(1, math.ceil(duration / window - 1e-9))
    if n == 1 and duration >= 2 * MIN_WINDOW_S:
        n = 2
    return [duration / n] * n


def window_prefix(index: int) -> str:
    """The key namespace of window ``index``: ``w0003-`` (keys become ``w0003-k0`` ...)."""
    if index < 0:
        raise ValueError("window index must be >= 0")
    return f"w{index:04d}-"


def window_seed(seed: int, index: int) -> int:
    """Window ``index``'s own seed (its workload streams and its fault's choices)."""
    return random.Random(f"{seed}/soak-window/{index}").getrandbits(31)


def fault_order(seed: int, faults: Sequence[str]) -> list[str]:
    """The soak's seeded order of the scenario's faults; window ``i`` gets ``order[i % n]``."""
    order = sorted(faults)
    random.Random(f"{seed}/soak-faults").shuffle(order)
    return order


def window_schedule(
    seed: int, index: int, length: float, faults: Sequence[str]
) -> list[FaultWindow]:
    """Window ``index``'s one fault: steady load, the fault, then steady load again to its end
    (seconds relative to the window's start)."""
    if not faults:
        return []
    order = fault_order(seed, faults)
    start = FAULT_START * length
    span = min(FAULT_MAX_S, max(FAULT_MIN_S, FAULT_SHARE * length))
    end = min(start + span, length * 0.9)
    if end <= start:
        return []
    fault_seed = random.Random(f"{seed}/soak-fault/{index}").getrandbits(32)
    return [FaultWindow(round(start, 3), round(end, 3), order[index % len(order)], fault_seed)]
