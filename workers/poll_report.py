"""What one poll cycle did: the report that is logged, returned by the task and measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vbq.store.poll_schedule import Outcome, PlaceState

__all__ = ["CycleReport", "place_log"]


@dataclass
class CycleReport:
    """What one poll cycle did (logged, and kept for metrics).

    Attributes:
        ran: False when another process held the lock.
        token: the fencing token of this cycle (0 when it did not run).
        list_calls / get_calls: Vertex read calls made.
        jobs_polled: unfinished submissions looked at.
        jobs_changed: transitions written (one event each).
        stale_events: ``job.stale`` warnings raised this cycle.
        conflicts: transitions lost to another writer (harmless).
        fallback: True when Vertex refused the list filter and per-job gets were used.
        duration_s: wall time of the cycle, in seconds.
        oldest_unfinished_age_s: age of the oldest unfinished job, in seconds (None: none).
        limited: True when the read-rate limit stopped the cycle early.
        list_errors: list calls that failed with a transient error (the location was skipped).
        places: each scheduled place polled: what its poll found and when it is polled next
            (:func:`place_log`; empty when the cycle ran unscheduled).
    """

    ran: bool = False
    token: int = 0
    list_calls: int = 0
    get_calls: int = 0
    jobs_polled: int = 0
    jobs_changed: int = 0
    stale_events: int = 0
    conflicts: int = 0
    fallback: bool = False
    duration_s: float = 0.0
    oldest_unfinished_age_s: float | None = None
    limited: bool = False
    list_errors: int = 0
    changed_ids: list[str] = field(default_factory=list)
    places: list[dict[str, Any]] = field(default_factory=list)

    @property
    def api_calls(self) -> int:
        """Vertex API calls made in this cycle."""
        return self.list_calls + self.get_calls

    def as_log(self) -> dict[str, Any]:
        """Fields for the cycle's log line."""
        return {
            "ran": self.ran,
            "token": self.token,
            "api_calls": self.api_calls,
            "list_calls": self.list_calls,
            "get_calls": self.get_calls,
            "jobs_polled": self.jobs_polled,
            "jobs_changed": self.jobs_changed,
            "stale_events": self.stale_events,
            "conflicts": self.conflicts,
            "fallback": self.fallback,
            "limited": self.limited,
            "list_errors": self.list_errors,
            "places": self.places,
            "duration_s": round(self.duration_s, 4),
            "oldest_unfinished_age_s": (
                None
                if self.oldest_unfinished_age_s is None
                else round(self.oldest_unfinished_age_s, 1)
            ),
        }


def place_log(place: PlaceState, outcome: Outcome, interval_s: float) -> dict[str, Any]:
    """One place's entry in :attr:`CycleReport.places`: the place, what its poll found
    (``changed``/``quiet``/``failed``), failures in a row and the seconds until its next poll."""
    failures = place.failures + 1 if outcome is Outcome.FAILED else 0
    return {
        "place": place.member,
        "outcome": outcome.value,
        "failures": failures,
        "next_in_s": round(interval_s, 3),
    }
