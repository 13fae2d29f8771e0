"""Coalescer: concurrent calls become batch calls, each caller gets its own answer."""

from __future__ import annotations

import threading
import time

import pytest

from vbq.subscribers.batching import Coalescer


def test_a_lone_call_runs_at_once_as_a_batch_of_one() -> None:
    batches: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        batches.append(items)
        return [i * 10 for i in items]

    c = Coalescer(run)
    assert c.call(3) == 30
    assert batches == [[3]]


def test_callers_queued_behind_a_running_batch_go_together_in_the_next() -> None:
    batches: list[list[int]] = []
    first_running = threading.Event()
    release = threading.Event()

    def run(items: list[int]) -> list[int]:
        batches.append(list(items))
        if len(batches) == 1:
            first_running.set()
            assert release.wait(5)
        return [i * 10 for i in items]

    c = Coalescer(run)
    results: dict[int, int] = {}

    def caller(i: int) -> None:
        results[i] = c.call(i)

    first = threading.Thread(target=caller, args=(0,))
    first.start()
    assert first_running.wait(5)
    others = [threading.Thread(target=caller, args=(i,)) for i in range(1, 9)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 5
    while len(c._queue) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert results == {i: i * 10 for i in range(9)}
    assert batches[0] == [0]
    assert sorted(batches[1]) == list(range(1, 9))  # one call for the eight queued meanwhile
    assert len(batches) == 2


def test_max_batch_splits_and_an_error_reaches_only_its_batch() -> None:
    def run(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("boom")
        return items

    c = Coalescer(run, max_batch=2)
    with pytest.raises(ValueError, match="boom"):
        c.call(13)
    assert c.call(4) == 4  # the coalescer is usable after a failed batch


def test_a_batch_that_answers_the_wrong_count_fails_its_callers() -> None:
    c: Coalescer[int, int] = Coalescer(lambda items: [])
    with pytest.raises(RuntimeError, match="answered 0 of 1"):
        c.call(1)
