"""The pause decision and its hysteresis (pure logic, fake measurements)."""

from __future__ import annotations

import pytest

from vbq.producers.bridge import Backpressure, should_pause


@pytest.mark.parametrize(
    ("in_use", "backlog", "paused", "expected"),
    [
        (10, 21, False, True),  # cap full, backlog above the limit
        (10, 20, False, False),  # at the limit
        (5, 21, False, False),  # 5 free slots take 5 of them at once
        (5, 26, False, True),  # ... but 21 would still wait
        (0, 30, False, False),  # an idle cap absorbs 10
        (12, 21, False, True),  # over the cap (a lost release) counts as full
        (10, 15, True, True),  # paused: stays paused above resume (10)
        (10, 10, True, False),  # ... and resumes at it
        (9, 11, True, False),  # a free slot lowers what waits (11 - 1 <= 10)
    ],
)
def test_should_pause(in_use: int, backlog: int, paused: bool, expected: bool) -> None:
    assert (
        should_pause(
            in_use=in_use,
            max_in_flight=10,
            backlog=backlog,
            max_backlog=20,
            resume_backlog=10,
            paused=paused,
        )
        is expected
    )


def test_backpressure_tracks_pauses() -> None:
    readings = iter([(10, 50), (10, 40), (10, 5), (3, 0)])
    bp = Backpressure(measure=lambda: next(readings), max_in_flight=10, max_backlog=20)
    assert bp.resume_backlog == 10
    assert bp.update().paused and bp.paused and bp.pauses == 1
    assert bp.update().paused and bp.pauses == 1  # the same pause
    assert bp.paused_for_s() >= 0.0
    assert not bp.update().paused and not bp.paused
    assert bp.paused_for_s() == 0.0 and bp.paused_total_s() > 0.0
    assert not bp.update().paused and bp.pauses == 1


def test_failed_measurement_keeps_the_decision() -> None:
    calls = {"n": 0}

    def measure() -> tuple[int, int]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise ConnectionError("redis down")
        return 10, 100

    bp = Backpressure(measure=measure, max_in_flight=10, max_backlog=20)
    bp.update()
    with pytest.raises(ConnectionError):
        bp.update()
    assert bp.paused


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        Backpressure(measure=lambda: (0, 0), max_in_flight=1, max_backlog=-1)
