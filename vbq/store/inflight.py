"""The poller's in-flight index: which locations have unfinished jobs, and a slim view of them.

``update.lua`` keeps, in the same Lua call as every transition (docs/contracts.md § Job store):

- ``vbq:inflight:{project}:{location}``: zset of the unfinished Vertex jobs there
  (score = ``submitted_at``);
- ``vbq:poll:locations``: zset of the ``{project}:{location}`` pairs whose in-flight zset is not
  empty, score = the newest ``submitted_at`` added there (``ZADD GT``). A pair is added with its
  first in-flight job and removed when its last one finishes (``delete.lua`` too).

So a poll cycle and the poll schedule never ``SCAN`` the keyspace: they read one small zset.
A store written before ``vbq:poll:locations`` existed is brought in once by
:meth:`InflightIndex.ensure_built` (walks the in-flight state indexes, never ``SCAN``; marker
``vbq:poll:locations:built``).

:meth:`InflightIndex.view` reads a location's jobs with one Lua call per chunk (``poll_view.lua``),
all chunks in one pipeline: id, ``submitted_at``, state, job name and whether ``job.stale`` was
raised, without reading or decoding whole records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import redis as redis_lib

from vbq.states import SubmissionState
from vbq.store.keys import PREFIX, inflight_key, state_index_key, sub_key
from vbq.store.scripts import load_script
from vbq.store.store import IN_FLIGHT_STATES

__all__ = [
    "LOCATIONS_BUILT_KEY",
    "LOCATIONS_KEY",
    "InflightIndex",
    "InflightJob",
]

LOCATIONS_KEY = f"{PREFIX}poll:locations"
"""Zset of ``{project}:{location}`` with in-flight jobs, score = newest ``submitted_at`` there."""

LOCATIONS_BUILT_KEY = f"{PREFIX}poll:locations:built"
"""Marker: :data:`LOCATIONS_KEY` was backfilled from the state indexes (set once, no TTL)."""

# Removes a location whose in-flight zset is empty (never one that still has jobs).
_PRUNE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.call('ZREM', KEYS[2], ARGV[1])
end
return 0
"""

# Adds a location with the newest score of its in-flight zset, if it has any job.
_ADD_IF_ANY = """
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #top == 0 then
  return 0
end
return redis.call('ZADD', KEYS[2], 'GT', top[2], ARGV[1])
"""


@dataclass(frozen=True, slots=True)
class InflightJob:
    """What a poll cycle needs of one in-flight submission to diff it against Vertex.

    Attributes:
        id: the submission id.
        submitted_at: when it entered the in-flight list (epoch seconds, Redis clock).
        state: its state value (``QUEUED`` ...).
        job_name: the Vertex job it points at.
        stale_raised: ``job.stale`` was already raised for it.
    """

    id: str
    submitted_at: float
    state: str
    job_name: str
    stale_raised: bool


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def _pair(member: Any) -> tuple[str, str]:
    project, _, location = _text(member).partition(":")
    return project, location


class InflightIndex:
    """Reads of the in-flight index (the writes are in ``update.lua`` / ``delete.lua``).

    Args:
        redis: a ``redis.Redis`` client (``decode_responses`` either way).
        chunk: in-flight jobs read per Lua call by :meth:`view`.
    """

    def __init__(self, redis: redis_lib.Redis, *, chunk: int = 2000) -> None:
        self._redis = redis
        self._chunk = max(1, chunk)
        self._view: Any = redis.register_script(load_script("poll_view.lua"))
        self._prune: Any = redis.register_script(_PRUNE)
        self._add_if_any: Any = redis.register_script(_ADD_IF_ANY)

    def locations(self) -> list[tuple[str, str]]:
        """The ``(project, location)`` pairs with in-flight jobs, sorted (one ``ZRANGE``).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        return sorted(_pair(m) for m in self._redis.zrange(LOCATIONS_KEY, 0, -1))

    def newest_submitted_at(self) -> float:
        """The newest ``submitted_at`` of any in-flight job (0.0 when none), epoch seconds.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        top = self._redis.zrange(LOCATIONS_KEY, -1, -1, withscores=True)
        return float(top[0][1]) if top else 0.0

    def view(
        self, project: str, location: str, *, stale_cutoff: float = math.inf
    ) -> list[InflightJob]:
        """The location's in-flight jobs, oldest first: one ``ZCARD``, then one pipeline of
        Lua calls of ``chunk`` jobs each (one round trip whatever the number of jobs).

        Args:
            project: the location's project.
            location: the location.
            stale_cutoff: only jobs submitted at or before it (epoch seconds) are checked for a
                ``job.stale`` marker; younger ones read as not raised.

        Members whose record is gone are left out. Jobs that enter or leave the list while it
        is read may be seen twice or missed (the next cycle sees them).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        key = inflight_key(project, location)
        total = int(self._redis.zcard(key))
        if not total:
            return []
        cutoff = repr(float(stale_cutoff)) if math.isfinite(stale_cutoff) else "1e308"
        pipe = self._redis.pipeline(transaction=False)
        for start in range(0, total, self._chunk):
            end = start + self._chunk - 1
            self._view(keys=[key], args=[PREFIX, start, end, cutoff], client=pipe)
        jobs: list[InflightJob] = []
        for rows in pipe.execute():
            for row in rows:
                sid, submitted, state, job_name, stale = _text(row).split("|", 4)
                if state:
                    jobs.append(InflightJob(sid, float(submitted), state, job_name, stale == "1"))
        return jobs

    def prune(self, project: str, location: str) -> bool:
        """Drop the location from :data:`LOCATIONS_KEY` if it has no in-flight job left
        (a backfill racing a transition may have left it); True when it was dropped.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        member = f"{project}:{location}"
        keys = [inflight_key(project, location), LOCATIONS_KEY]
        return bool(int(self._prune(keys=keys, args=[member])))

    def ensure_built(self) -> int:
        """Backfill :data:`LOCATIONS_KEY` once for a store written before it existed.

        Walks the in-flight state indexes (``vbq:idx:state:{STATE}``, never ``SCAN``) and reads
        each record's project and location, then sets :data:`LOCATIONS_BUILT_KEY`. Cheap when
        the marker is set (one ``EXISTS``). Returns the locations added.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        if self._redis.exists(LOCATIONS_BUILT_KEY):
            return 0
        pairs: set[tuple[str, str]] = set()
        for state in sorted(IN_FLIGHT_STATES, key=lambda s: s.value):
            pairs |= self._locations_of(state)
        added = 0
        for project, location in sorted(pairs):
            member = f"{project}:{location}"
            keys = [inflight_key(project, location), LOCATIONS_KEY]
            added += int(self._add_if_any(keys=keys, args=[member]))
        self._redis.set(LOCATIONS_BUILT_KEY, "1")
        return added

    def _locations_of(self, state: SubmissionState) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        index = state_index_key(state.value)
        start = 0
        while True:
            ids = self._redis.zrange(index, start, start + self._chunk - 1)
            if not ids:
                return found
            pipe = self._redis.pipeline(transaction=False)
            for sid in ids:
                pipe.hmget(sub_key(_text(sid)), ["project", "location"])
            for project, location in pipe.execute():
                if project is not None and location is not None:
                    found.add((_text(project), _text(location)))
            start += self._chunk
