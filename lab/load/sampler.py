"""A small sampling profiler for a node under load: every thread, wall-clock samples.

``python -m lab.load.sampler -o OUT [--interval S] -m MODULE [ARGS...]`` runs ``MODULE`` as
``__main__`` and, from a background thread, records every other thread's Python stack every
``S`` seconds (``sys._current_frames``). When the module exits (a node exits on SIGTERM) it
writes ``OUT.txt`` (per thread: where the samples were, by leaf function and inclusively) and
``OUT.collapsed`` (``thread;outer;...;leaf count`` lines, flame graph input).

cProfile sees only the main thread; Aspen's storage writes run in an executor thread, and a
main thread that waits for the GIL shows up in cProfile as a slow ``socket.send``. Sampling
every thread shows both. Samples are wall time: a thread blocked in ``select`` is idle, one
holding the GIL in msgpack is busy.
"""

from __future__ import annotations

import collections
import runpy
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

Stack = tuple[str, ...]


def _frame_name(f: FrameType) -> str:
    code = f.f_code
    return f"{Path(code.co_filename).name}:{code.co_name}"


class Sampler:
    def __init__(self, interval: float = 0.005, depth: int = 60) -> None:
        self.interval = interval
        self.depth = depth
        self.samples: collections.Counter[tuple[str, Stack]] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lab-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack: list[str] = []
                f: FrameType | None = frame
                while f is not None and len(stack) < self.depth:
                    stack.append(_frame_name(f))
                    f = f.f_back
                stack.reverse()
                self.samples[(names.get(ident, str(ident)), tuple(stack))] += 1

    def report(self, top: int = 25) -> str:
        lines: list[str] = []
        threads: collections.Counter[str] = collections.Counter()
        for (thread, _), n in self.samples.items():
            threads[thread] += n
        for thread, total in threads.most_common():
            leaf: collections.Counter[str] = collections.Counter()
            inclusive: collections.Counter[str] = collections.Counter()
            for (t, stack), n in self.samples.items():
                if t != thread or not stack:
                    continue
                leaf[stack[-1]] += n
                for name in set(stack):
                    inclusive[name] += n
            lines.append(f"== thread {thread}: {total} samples ({total * self.interval:.1f} s)")
            lines.append("  by leaf (where the thread was):")
            lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in leaf.most_common(top)]
            lines.append("  inclusive (on the stack):")
            lines += [
                f"    {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)
            ]
            lines.append("")
        return "\n".join(lines)

    def collapsed(self) -> str:
        return "".join(
            f"{';'.join((thread.replace(' ', '_'), *stack))} {n}\n"
            for (thread, stack), n in sorted(self.samples.items())
        )

    def write(self, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".txt").write_text(self.report())
        out.with_suffix(".collapsed").write_text(self.collapsed())


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out: Path | None = None
    interval = 0.005
    while args and args[0] != "-m":
        flag = args.pop(0)
        if flag == "-o" and args:
            out = Path(args.pop(0))
        elif flag == "--interval" and args:
            interval = float(args.pop(0))
        else:
            break
    if out is None or len(args) < 2 or args[0] != "-m":
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    module, rest = args[1], args[2:]
    sampler = Sampler(interval)
    sys.argv = [module, *rest]
    sampler.start()
    code: int | str | None = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code
    finally:
        sampler.stop()
        sampler.write(out)
    return code if isinstance(code, int) else (0 if code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
