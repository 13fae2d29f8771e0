"""A one-thread timer: run callbacks at epoch times (the emulated jobs' clock).

Lifecycle steps (start, finish, cancel) are scheduled here; :meth:`Scheduler.clear` drops
every pending step at once (``POST /_emulator/reset``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from vbq.logs import get_logger

__all__ = ["Scheduler"]

_log = get_logger(__name__)


class Scheduler:
    """Runs ``callback()`` at or after ``when_s`` (epoch seconds) on one daemon thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._generation = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="vemu-scheduler", daemon=True)
        self._thread.start()

    def at(self, when_s: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` at epoch time ``when_s`` (at once when it has passed)."""
        with self._cond:
            entry = (when_s, next(self._counter), self._generation, callback)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._cond.notify()

    def clear(self) -> None:
        """Forget every pending callback."""
        with self._cond:
            self._heap.clear()
            self._generation += 1

    def stop(self) -> None:
        """Stop the thread (pending callbacks never run)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.time()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    timeout = (self._heap[0][0] - now) if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _when, _n, generation, callback = heapq.heappop(self._heap)
                if generation != self._generation:
                    continue
            try:
                callback()
            except Exception:  # one broken job must not stop every other job's clock
                _log.exception("emulator scheduler callback failed")
