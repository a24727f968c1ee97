"""Services that take turns on one core: each runs alone for a slice while the others are stopped, and
the load that drives them all at once meanwhile (``load_in_turns``).

The machine's speed flips between two levels about 1.6x apart, often several times a second, so two
services measured one after the other for seconds each see different machines. Taking turns every
100 ms, each sees the same mix of fast and slow moments. Stopping the others (``SIGSTOP`` to their
process groups) rather than letting the kernel share the core keeps each service's caches its own for a
whole slice: shared by the scheduler every few milliseconds, both services spent a quarter to a half
more CPU per request than alone, the instrumented one (the larger working set) more. In 100 ms turns
they spend within a few percent of what they spend alone.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType

from benchmarks._load import LoadResult
from benchmarks._procs import cpu_seconds

SLICE_S = 0.1


class Turns:
    """While entered, the processes (each the leader of its own process group) run one at a time."""

    def __init__(self, pids: Sequence[int], slice_s: float = SLICE_S) -> None:
        self.pids = list(pids)
        self.slice_s = slice_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._rotate, name="bench-turns", daemon=True)

    def __enter__(self) -> Turns:
        for pid in self.pids[1:]:
            _signal(pid, signal.SIGSTOP)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()
        for pid in self.pids:  # never leave a service stopped, whatever happened
            _signal(pid, signal.SIGCONT)

    def _rotate(self) -> None:
        turn = 0
        while not self._done.wait(self.slice_s):
            current, turn = self.pids[turn], (turn + 1) % len(self.pids)
            # Stop first, so two never run at once. A service that died ends the rotation; the load
            # generator then reports its failed requests.
            if not (_signal(current, signal.SIGSTOP) and _signal(self.pids[turn], signal.SIGCONT)):
                return


def _signal(pid: int, signal_number: signal.Signals) -> bool:
    """``signal_number`` to the process group ``pid`` leads; False when it is gone."""
    try:
        os.killpg(pid, signal_number)
    except ProcessLookupError:
        return False
    return True


def load_in_turns(pids: Mapping[str, int], drive: Callable[[str], LoadResult]) -> dict[str, tuple[LoadResult, float]]:
    """``drive(name)`` for every service at once, the services taking turns (a lone one just runs); each
    one's load result and the CPU seconds its process spent meanwhile."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    turns: AbstractContextManager[object] = Turns(list(pids.values())) if len(pids) > 1 else nullcontext()
    with ThreadPoolExecutor(max_workers=len(pids)) as pool, turns:
        running = {name: pool.submit(drive, name) for name in pids}
        results = {name: future.result() for name, future in running.items()}
    return {name: (results[name], cpu_seconds(pid) - before[name]) for name, pid in pids.items()}
