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

Waiting costs no CPU beyond the caller's own wake-up: each queued caller sleeps on a lock of its
own, released exactly once, either with its answer or to make it the runner of the next batch.
(A shared condition woken with ``notify_all`` would wake every waiting thread after every batch,
and with a hundred pull threads those wake-ups, each taking the GIL, cost more than the batch.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("done", "error", "item", "result", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None
        # Held from the start; released once, when the answer is in or the slot must lead.
        self.wake = threading.Lock()
        self.wake.acquire()


class Coalescer(Generic[T, R]):
    """Runs ``run(items)`` for the items that callers of :meth:`call` queued meanwhile.

    Args:
        run: the batch call; returns one result per item, in order (raises for all).
        max_batch: most items per batch call.
    """

    def __init__(self, run: Callable[[list[T]], Sequence[R]], *, max_batch: int = 500) -> None:
        self._run = run
        self._max_batch = max(1, max_batch)
        self._lock = threading.Lock()
        # Callers waiting for the next batch, FIFO. Invariant: empty whenever no batch runs.
        self._queue: list[_Slot[T, R]] = []
        self._running = False

    def call(self, item: T) -> R:
        """The result of ``item`` in the batch it joined.

        Raises:
            Exception: whatever the batch call raised.
        """
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            wait = self._running
            self._running = True
        if wait:
            slot.wake.acquire()  # answered, or handed the next batch (then ours heads it)
        if not slot.done:
            self._run_next()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _run_next(self) -> None:
        # Only the runner takes from the queue, and it is handed to the queue's head: the
        # runner's own slot is the first of this batch.
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        results: Sequence[R] = ()
        error: BaseException | None = None
        try:
            results = self._run([s.item for s in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch call answered {len(results)} of {len(batch)} items")
        except BaseException as exc:  # handed to every caller of the batch
            error = exc
        for i, s in enumerate(batch):
            if error is None:
                s.result = results[i]
            else:
                s.error = error
            s.done = True
        with self._lock:
            following = self._queue[0] if self._queue else None
            self._running = following is not None
        if following is not None:
            following.wake.release()  # the next batch starts before this one's callers resume
        for s in batch[1:]:
            s.wake.release()
