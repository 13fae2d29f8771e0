"""Each place's poll schedule: its own next-due time and back-off, kept in Redis.

Issue 17.3: each (project, location) has its own poll schedule. A place whose jobs keep
changing is polled every ``poll_interval_s``; a quiet one backs off alone (the interval
doubles after each poll that changed nothing, up to ``poll_max_interval_s``); a place whose
list call failed (5xx, 429, timeout) or that ran out of read budget backs off alone too, and a
busy place next to it keeps its own cadence. Both intervals may be set per place in
``VBQ_LOCATION_LIMITS`` (:func:`vbq.places.settings_for_place`).

A place is due when (:func:`is_due`):

- it was never polled, or its next-due time has passed, or
- a job entered its in-flight list after its last poll started (a fresh submission is polled
  on the next beat tick, not after the back-off), unless its last poll failed: a failing place
  waits out its back-off whatever is submitted there.

Keys (member ``{project}:{location}`` everywhere, times on the Redis clock, epoch seconds):

- ``vbq:poll:due``: zset, score = when the place is next due;
- ``vbq:poll:started``: zset, score = when its last poll started;
- ``vbq:poll:interval``: hash, the interval chosen after its last poll, in seconds;
- ``vbq:poll:failures``: hash, polls in a row that failed (no field: the last one did not).

:meth:`PlaceSchedule.states` reads them (with ``vbq:poll:locations``, :mod:`vbq.store.inflight`)
in one pipeline of five commands whatever the number of places or jobs. A place that left
``vbq:poll:locations`` (its last job finished) is dropped from the four keys, so it starts again
at ``poll_interval_s`` when a job comes back. The poll cycle reads the due places *under the poll
lease* (:class:`vbq.workers.poller.Poller`), so a second beat or a retried tick never polls a
place twice within its interval.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis as redis_lib

from vbq.places import settings_for_place
from vbq.settings import Settings
from vbq.store.inflight import LOCATIONS_KEY
from vbq.store.keys import PREFIX

__all__ = [
    "DUE_KEY",
    "FAILURES_KEY",
    "INTERVAL_KEY",
    "STARTED_KEY",
    "Outcome",
    "PlaceSchedule",
    "PlaceState",
    "due_order",
    "is_due",
    "next_interval",
]

DUE_KEY = f"{PREFIX}poll:due"
"""Zset: place → when it is next due (epoch s, Redis clock)."""
STARTED_KEY = f"{PREFIX}poll:started"
"""Zset: place → when its last poll started (epoch s, Redis clock)."""
INTERVAL_KEY = f"{PREFIX}poll:interval"
"""Hash: place → the interval chosen after its last poll, in seconds."""
FAILURES_KEY = f"{PREFIX}poll:failures"
"""Hash: place → polls in a row that failed."""


_NOW = "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

# ARGV: the places whose poll starts now.
_STARTED = (
    _NOW
    + """
for _, member in ipairs(ARGV) do
  redis.call('ZADD', KEYS[1], now, member)
end
return #ARGV
"""
)

# ARGV: place, interval_s, failed (1/0). KEYS: due zset, interval hash, failures hash.
_FINISHED = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] == '1' then
  return redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
end
redis.call('HDEL', KEYS[3], ARGV[1])
return 0
"""
)


class Outcome(enum.StrEnum):
    """What one poll of one place found."""

    CHANGED = "changed"
    """At least one job changed state: poll again after ``poll_interval_s``."""
    QUIET = "quiet"
    """Nothing changed: back off (the interval doubles)."""
    FAILED = "failed"
    """The list call failed or the read budget ran out: back off, and a submission there does
    not wake the place up."""


@dataclass(frozen=True, slots=True)
class PlaceState:
    """One place's schedule as read from Redis.

    Attributes:
        project / location: the place.
        newest_submitted_at: newest ``submitted_at`` of its in-flight jobs (epoch s).
        due_at: when it is next due (epoch s); None when it was never polled.
        started_at: when its last poll started (epoch s; 0.0: never).
        interval_s: the interval chosen after its last poll (0.0: never polled).
        failures: polls in a row that failed.
    """

    project: str
    location: str
    newest_submitted_at: float
    due_at: float | None = None
    started_at: float = 0.0
    interval_s: float = 0.0
    failures: int = 0

    @property
    def member(self) -> str:
        """``{project}:{location}``, the member in every schedule key."""
        return f"{self.project}:{self.location}"


def is_due(state: PlaceState, now: float) -> bool:
    """True when ``state``'s place should be polled at ``now`` (epoch s; module docstring)."""
    if state.due_at is None or now >= state.due_at:
        return True
    return state.failures == 0 and state.newest_submitted_at > state.started_at


def due_order(states: Iterable[PlaceState]) -> list[PlaceState]:
    """Healthy places first (a failing place's slow calls come last in a cycle), then the
    longest overdue first, then by name."""
    return sorted(
        states,
        key=lambda s: (s.failures > 0, s.due_at if s.due_at is not None else 0.0, s.member),
    )


def next_interval(current_s: float, outcome: Outcome, *, base_s: float, max_s: float) -> float:
    """The interval after a poll with ``outcome``, in seconds: ``base_s`` after a change,
    else double ``current_s`` (at least ``base_s``), never above ``max(base_s, max_s)``."""
    if outcome is Outcome.CHANGED:
        return base_s
    return min(max(current_s, base_s) * 2, max(base_s, max_s))


class PlaceSchedule:
    """Reads and writes each place's poll schedule (module docstring).

    Args:
        redis: a ``redis.Redis`` client (``decode_responses`` either way).
        settings: ``poll_interval_s``, ``poll_max_interval_s`` and their per-place overrides.
    """

    def __init__(self, redis: redis_lib.Redis, *, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._started: Any = redis.register_script(_STARTED)
        self._finished: Any = redis.register_script(_FINISHED)

    def states(self, *, prune: bool = True) -> tuple[float, list[PlaceState]]:
        """``(now, one state per place with in-flight jobs)``, sorted by place; one pipeline.

        Args:
            prune: drop the schedule of places that have no in-flight job any more (the
                scrape-time gauges read with False: a scrape writes nothing).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        pipe = self.redis.pipeline(transaction=False)
        pipe.time()
        pipe.zrange(LOCATIONS_KEY, 0, -1, withscores=True)
        pipe.zrange(DUE_KEY, 0, -1, withscores=True)
        pipe.zrange(STARTED_KEY, 0, -1, withscores=True)
        pipe.hgetall(INTERVAL_KEY)
        pipe.hgetall(FAILURES_KEY)
        server_time, located, due, started, intervals, failures = pipe.execute()
        now = float(server_time[0]) + float(server_time[1]) / 1e6
        due_at = {_text(m): float(s) for m, s in due}
        started_at = {_text(m): float(s) for m, s in started}
        interval = {_text(k): _float(v) for k, v in intervals.items()}
        failed = {_text(k): int(_float(v)) for k, v in failures.items()}
        states: list[PlaceState] = []
        for raw, newest in located:
            member = _text(raw)
            project, _, location = member.partition(":")
            states.append(
                PlaceState(
                    project=project,
                    location=location,
                    newest_submitted_at=float(newest),
                    due_at=due_at.get(member),
                    started_at=started_at.get(member, 0.0),
                    interval_s=interval.get(member, 0.0),
                    failures=failed.get(member, 0),
                )
            )
        live = {s.member for s in states}
        gone = (set(due_at) | set(started_at) | set(interval) | set(failed)) - live
        if gone and prune:
            self.forget(sorted(gone))
        return now, sorted(states, key=lambda s: s.member)

    def due(self, *, force: bool = False, prune: bool = True) -> list[PlaceState]:
        """The places to poll now, in :func:`due_order` (all of them when ``force``).

        Args:
            prune: forget the schedule of places without in-flight jobs (only under the poll
                lease: a check without it must not race the cycle's writes).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        now, states = self.states(prune=prune)
        return due_order(s for s in states if force or is_due(s, now))

    def started(self, places: Sequence[PlaceState]) -> None:
        """Record that a poll of ``places`` starts now (one Lua call, Redis clock).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        if places:
            self._started(keys=[STARTED_KEY], args=[p.member for p in places])

    def finished(self, place: PlaceState, outcome: Outcome) -> float:
        """Schedule ``place``'s next poll after one with ``outcome`` (one Lua call, Redis
        clock); returns the interval chosen, in seconds.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        placed = settings_for_place(self.settings, place.project, place.location)
        interval = next_interval(
            place.interval_s,
            outcome,
            base_s=placed.poll_interval_s,
            max_s=placed.poll_max_interval_s,
        )
        self._finished(
            keys=[DUE_KEY, INTERVAL_KEY, FAILURES_KEY],
            args=[place.member, repr(interval), "1" if outcome is Outcome.FAILED else "0"],
        )
        return interval

    def forget(self, members: Sequence[str]) -> None:
        """Drop the schedule of places ``{project}:{location}`` (one round trip).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        if not members:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(DUE_KEY, *members)
        pipe.zrem(STARTED_KEY, *members)
        pipe.hdel(INTERVAL_KEY, *members)
        pipe.hdel(FAILURES_KEY, *members)
        pipe.execute()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _float(value: Any) -> float:
    try:
        return float(_text(value))
    except (TypeError, ValueError):
        return 0.0
