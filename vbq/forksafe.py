"""Per-process values: what a forked child must build for itself.

Celery's prefork pool forks workers from a parent that may already hold Redis connections,
HTTP connection pools and locks. A child that reused its parent's sockets would interleave its
requests with the parent's on one connection, and a lock that one of the parent's threads held
at ``fork()`` time stays held forever in the child. :class:`PerProcess` builds its value lazily,
once per process, and starts with a fresh lock in every child.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["PerProcess"]

T = TypeVar("T")


class PerProcess(Generic[T]):
    """A value built on first use in each process (the parent's is never handed to a child).

    Thread-safe: concurrent first calls in one process build the value once.

    Args:
        build: makes the value; called at most once per process, under the holder's lock.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._slot: tuple[int, T] | None = None  # (pid that built it, value)
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self.builds = 0
        """How many values this holder built (one per process that used it)."""
        ref = weakref.ref(self)

        def fresh_lock() -> None:
            holder = ref()
            if holder is not None:
                holder._new_lock(os.getpid())

        # In a real fork the child gets its lock before it can start a thread; the pid check in
        # _locked() covers a fork this hook did not see.
        os.register_at_fork(after_in_child=fresh_lock)

    def get(self) -> T:
        """This process's value, built now if this process has none yet.

        Raises:
            Exception: whatever ``build`` raises (nothing is cached then).
        """
        pid = os.getpid()
        slot = self._slot
        if slot is not None and slot[0] == pid:
            return slot[1]
        with self._locked(pid):
            slot = self._slot
            if slot is None or slot[0] != pid:
                slot = (pid, self._build())
                self._slot = slot
                self.builds += 1
            return slot[1]

    def discard(self) -> T | None:
        """Forget this process's value and return it (to close it); a parent's is left alone."""
        pid = os.getpid()
        with self._locked(pid):
            slot, self._slot = self._slot, None
        return slot[1] if slot is not None and slot[0] == pid else None

    def _locked(self, pid: int) -> threading.Lock:
        if self._lock_pid != pid:
            self._new_lock(pid)
        return self._lock

    def _new_lock(self, pid: int) -> None:
        self._lock = threading.Lock()
        self._lock_pid = pid
