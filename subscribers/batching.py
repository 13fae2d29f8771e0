"""Group commit for the inbox: the Redis calls of many handler threads as one call.

The streaming pull runtime handles each message in its own thread; each asks the inbox for a
claim before its handlers and for a done mark after them. :class:`Coalescer` turns those
per-message calls into batch calls without adding latency: the first caller runs a batch at
once; callers that arrive while a batch runs queue up and the next one of them runs them all
in the following batch. One Lua call then claims (or marks done) a whole pull batch, so Redis
round trips, client overhead and ``appendfsync`` flushes are paid per batch, not per message.

Every item still gets its own answer (or the batch's exception), so the callers keep their
per-message logic: exactly-once runs per event id are decided per key, inside one atomic Lua
call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class Coalescer(Generic[T, R]):
    """Runs ``run(items)`` for the items that callers of :meth:`call` queued meanwhile.

    Args:
        run: the batch call; returns one result per item, in order (raises for all).
        max_batch: most items per batch call.
    """

    def __init__(self, run: Callable[[list[T]], Sequence[R]], *, max_batch: int = 500) -> None:
        self._run = run
        self._max_batch = max(1, max_batch)
        self._cond = threading.Condition()
        self._queue: list[_Slot[T, R]] = []
        self._running = False

    def call(self, item: T) -> R:
        """The result of ``item`` in the batch it joined.

        Raises:
            Exception: whatever the batch call raised.
        """
        slot: _Slot[T, R] = _Slot(item)
        with self._cond:
            self._queue.append(slot)
        while True:
            with self._cond:
                while not slot.done and self._running:
                    self._cond.wait()
                if slot.done:
                    break
                self._running = True  # we run the next batch (FIFO: ours, or ours is later)
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            self._run_batch(batch)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _run_batch(self, batch: list[_Slot[T, R]]) -> None:
        results: Sequence[R] = ()
        error: BaseException | None = None
        try:
            results = self._run([s.item for s in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch call answered {len(results)} of {len(batch)} items")
        except BaseException as exc:  # handed to every caller of the batch
            error = exc
        with self._cond:
            for i, s in enumerate(batch):
                if error is None:
                    s.result = results[i]
                else:
                    s.error = error
                s.done = True
            self._running = False
            self._cond.notify_all()
