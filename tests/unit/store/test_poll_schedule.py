"""Each place's poll schedule, the pure part: when a place is due, in what order, how it backs
off (vbq.store.poll_schedule; the Redis part is tested in tests/integration/poller)."""

from __future__ import annotations

import pytest

from vbq.errors import ConfigError
from vbq.places import settings_for_place
from vbq.settings import Settings
from vbq.store.poll_schedule import Outcome, PlaceState, due_order, is_due, next_interval

NOW = 1_000_000.0


def _state(location: str = "us-central1", **kw: float | None) -> PlaceState:
    fields: dict[str, object] = {"newest_submitted_at": NOW - 100, **kw}
    return PlaceState("p", location, **fields)  # type: ignore[arg-type]


def test_a_place_never_polled_is_due() -> None:
    assert is_due(_state(due_at=None), NOW)


def test_a_place_is_due_at_its_own_time_only() -> None:
    assert is_due(_state(due_at=NOW, started_at=NOW - 10), NOW)
    assert not is_due(_state(due_at=NOW + 0.01, started_at=NOW - 10), NOW)


def test_a_submission_after_the_last_poll_started_wakes_the_place() -> None:
    woken = _state(due_at=NOW + 30, started_at=NOW - 5, newest_submitted_at=NOW - 1)
    assert is_due(woken, NOW)
    older = _state(due_at=NOW + 30, started_at=NOW - 5, newest_submitted_at=NOW - 6)
    assert not is_due(older, NOW)


def test_a_failing_place_waits_out_its_back_off_whatever_is_submitted() -> None:
    failing = _state(due_at=NOW + 30, started_at=NOW - 5, newest_submitted_at=NOW - 1, failures=2)
    assert not is_due(failing, NOW)
    assert is_due(_state(due_at=NOW - 1, started_at=NOW - 5, failures=2), NOW)


@pytest.mark.parametrize(
    ("current", "outcome", "expected"),
    [
        (0.0, Outcome.QUIET, 2.0),  # never polled: from the base
        (1.0, Outcome.QUIET, 2.0),
        (2.0, Outcome.QUIET, 4.0),
        (4.0, Outcome.QUIET, 8.0),
        (8.0, Outcome.QUIET, 10.0),  # capped
        (10.0, Outcome.FAILED, 10.0),
        (2.0, Outcome.FAILED, 4.0),
        (10.0, Outcome.CHANGED, 1.0),  # back to the base at once
        (0.0, Outcome.CHANGED, 1.0),
    ],
)
def test_next_interval_backs_off_and_resets(
    current: float, outcome: Outcome, expected: float
) -> None:
    assert next_interval(current, outcome, base_s=1.0, max_s=10.0) == expected


def test_a_max_below_the_base_keeps_the_base() -> None:
    assert next_interval(5.0, Outcome.QUIET, base_s=5.0, max_s=1.0) == 5.0


def test_two_places_back_off_independently() -> None:
    """A busy place stays at the base while a quiet one and a failing one back off."""
    busy = quiet = failing = 0.0
    for _ in range(5):
        busy = next_interval(busy, Outcome.CHANGED, base_s=1.0, max_s=60.0)
        quiet = next_interval(quiet, Outcome.QUIET, base_s=1.0, max_s=60.0)
        failing = next_interval(failing, Outcome.FAILED, base_s=1.0, max_s=60.0)
    assert (busy, quiet, failing) == (1.0, 32.0, 32.0)


def test_healthy_places_come_first_then_the_longest_overdue() -> None:
    a = _state("a-loc", due_at=NOW - 1)
    b = _state("b-loc", due_at=NOW - 9)
    fresh = _state("c-loc", due_at=None)
    failing = _state("d-loc", due_at=NOW - 100, failures=3)
    assert [s.location for s in due_order([failing, a, b, fresh])] == [
        "c-loc",
        "b-loc",
        "a-loc",
        "d-loc",
    ]


def test_member_names_the_place() -> None:
    assert _state("europe-west4").member == "p:europe-west4"


def test_poll_intervals_may_be_set_per_place() -> None:
    settings = Settings.from_env(
        {
            "VBQ_POLL_INTERVAL_S": "10",
            "VBQ_LOCATION_LIMITS": '{"europe-west4": {"poll_interval_s": 30, '
            '"poll_max_interval_s": 300}}',
        }
    )
    eu = settings_for_place(settings, "p", "europe-west4")
    us = settings_for_place(settings, "p", "us-central1")
    assert (eu.poll_interval_s, eu.poll_max_interval_s) == (30.0, 300.0)
    assert (us.poll_interval_s, us.poll_max_interval_s) == (10.0, 60.0)


def test_a_zero_poll_interval_per_place_is_refused() -> None:
    with pytest.raises(ConfigError, match="poll_interval_s must be >="):
        settings_for_place(
            Settings.from_env({"VBQ_LOCATION_LIMITS": '{"us-central1": {"poll_interval_s": 0}}'}),
            "p",
            "us-central1",
        )
