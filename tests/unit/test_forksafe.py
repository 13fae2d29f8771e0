"""vbq.forksafe.PerProcess: one value per process, built once even under concurrent first
calls; a forked child builds its own and never blocks on a lock its parent held at fork()."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from vbq.forksafe import PerProcess


def _in_child(holder: PerProcess[object], *, parents: object, builds: int) -> int:
    """Fork; the child calls ``holder.get()`` and exits 0 when it got a value of its own and
    ``holder.builds`` is then ``builds``."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if holder.get() is not parents and holder.builds == builds else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_builds_once_per_process_even_when_threads_race() -> None:
    started = threading.Barrier(8)

    def slow_build() -> object:
        time.sleep(0.05)  # every thread arrives while the first build is under way
        return object()

    holder: PerProcess[object] = PerProcess(slow_build)

    def first_call(_: int) -> object:
        started.wait()
        return holder.get()

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(first_call, range(8)))
    assert len({id(v) for v in values}) == 1
    assert holder.builds == 1 and holder.get() is values[0]


def test_a_forked_child_builds_its_own_value() -> None:
    holder: PerProcess[object] = PerProcess(object)
    parents = holder.get()
    assert _in_child(holder, parents=parents, builds=2) == 0
    assert holder.get() is parents and holder.builds == 1


def test_a_lock_held_at_fork_time_does_not_block_the_child() -> None:
    holder: PerProcess[object] = PerProcess(object)
    holder._lock.acquire()  # another thread of the parent is inside get() when it forks
    try:
        assert _in_child(holder, parents=None, builds=1) == 0
    finally:
        holder._lock.release()


def test_a_pid_change_without_the_fork_hook_still_rebuilds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder: PerProcess[object] = PerProcess(object)
    parents = holder.get()
    holder._lock.acquire()  # would deadlock if the "child" reused it
    real = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real + 1)
    assert holder.get() is not parents and holder.builds == 2


def test_discard_returns_only_this_process_value(monkeypatch: pytest.MonkeyPatch) -> None:
    holder: PerProcess[object] = PerProcess(object)
    first = holder.get()
    assert holder.discard() is first
    assert holder.discard() is None
    holder.get()
    real = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real + 1)
    assert holder.discard() is None  # the parent's value is left for the parent to close


def test_a_failed_build_caches_nothing() -> None:
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("redis down")
        return len(calls)

    holder: PerProcess[int] = PerProcess(flaky)
    with pytest.raises(RuntimeError):
        holder.get()
    assert holder.get() == 2 and holder.get() == 2
