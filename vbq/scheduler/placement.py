"""Placement: a submission with several acceptable locations runs where capacity is free.

``create.lua`` queues such a submission (record field ``locations``, comma-separated) at
every acceptable place with one arrival number. Each place's dispatcher round treats it like
any other queued submission; the first place that has a create token and a slot for it claims
it with :data:`_CLAIM`, one fenced Lua call that does what the plain commit does
(:mod:`vbq.scheduler.queues`) and also takes it out of the other places' queues and sets the
record's ``location`` (and ``model``, for a publisher model named with a region) to the
chosen place, before any create is sent. A queue entry whose record is no longer ACCEPTED is
stale: it is dropped, never dispatched.

A create that the chosen place answered in a way that surely created nothing (429, 503, no
connection) puts it back: ACCEPTED again (``update.lua``), queued at its other acceptable
places (:mod:`vbq.workers.submit`). A create that may have been applied (a timeout, 5xx) keeps
it at that place until the label reconcile there finds the job or sends the create again:
a submission only moves while no create of it can exist, so a reconcile in one place is
enough (docs/contracts.md § Placement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from vbq.broker.due import DUE_KEY
from vbq.places import model_at
from vbq.scheduler.keys import (
    LOCK_KEY,
    PLACES_KEY,
    PRIORITIES,
    active_key,
    clock_key,
    grant_key,
    place_name,
    queue_key,
    tags_key,
)
from vbq.scheduler.queues import Candidate

__all__ = ["PlacedCandidate", "Placement"]

# KEYS: lock, queue, active, clock, tags, due, grant, places, record, the tenant's 3 queues at
# this place, the same (tenant, priority) queue at the other places...
# ARGV: lock value, id, tenant, start tag, new tag, grant ttl ms, place name, location, model.
# Returns -1 (lease lost), 0 (not claimable here: gone, or stale and dropped), 1 (claimed).
_CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[9], 'state') ~= 'ACCEPTED' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 0
end
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
for i = 13, #KEYS do redis.call('ZREM', KEYS[i], ARGV[2]) end
redis.call('HSET', KEYS[9], 'location', ARGV[8])
if ARGV[9] ~= '' then redis.call('HSET', KEYS[9], 'model', ARGV[9]) end
local clock = tonumber(redis.call('GET', KEYS[4]) or '0')
if tonumber(ARGV[4]) > clock then redis.call('SET', KEYS[4], ARGV[4]) end
local left = 0
for i = 10, 12 do left = left + redis.call('ZCARD', KEYS[i]) end
if left == 0 then
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('HSET', KEYS[5], ARGV[3], ARGV[5])
  if redis.call('ZCARD', KEYS[3]) == 0 then redis.call('SREM', KEYS[8], ARGV[7]) end
else
  redis.call('ZADD', KEYS[3], 'XX', ARGV[5], ARGV[3])
end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[6], t[1] .. '.' .. string.format('%06d', tonumber(t[2])), ARGV[2])
redis.call('SET', KEYS[7], '1', 'PX', ARGV[6])
return 1
"""


@dataclass(frozen=True, slots=True)
class PlacedCandidate:
    """What the dispatcher needs of a queued submission before it takes its slot.

    Attributes:
        model: the model the job would use at this place (slots per model key on it).
        locations: its acceptable locations; empty for a submission with one place.
    """

    model: str | None
    locations: tuple[str, ...]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Placement:
    """Reads and claims of submissions queued at several places.

    Args:
        redis_client: the vbq Redis.
    """

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client
        self._claim = redis_client.register_script(_CLAIM)

    def lookup(self, submission_id: str, location: str) -> PlacedCandidate:
        """The model (as it would be at ``location``) and acceptable locations of a submission.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        model, locations = self.redis.hmget(f"vbq:sub:{submission_id}", ["model", "locations"])
        places = tuple(x for x in _text(locations or "").split(",") if x)
        name = _text(model) if model else None
        if name and places:
            name = model_at(name, location)
        return PlacedCandidate(model=name, locations=places)

    def claim(
        self,
        lease_value: str,
        candidate: Candidate,
        placed: PlacedCandidate,
        *,
        project: str,
        location: str,
        new_tag: float,
        grant_ttl_ms: int,
    ) -> int:
        """Claim ``candidate`` for (project, location): the plain commit, plus out of the other
        places' queues and the record's ``location``/``model`` set to this place.

        Returns:
            1 claimed; 0 it left this queue meanwhile (or its entry was stale and is dropped);
            -1 the lease was lost.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        tenant, priority, sid = candidate.tenant, candidate.priority, candidate.submission_id
        others = [queue_key(project, loc, tenant, priority) for loc in placed.locations]
        keys = [
            LOCK_KEY,
            queue_key(project, location, tenant, priority),
            active_key(project, location),
            clock_key(project, location),
            tags_key(project, location),
            DUE_KEY,
            grant_key(sid),
            PLACES_KEY,
            f"vbq:sub:{sid}",
            *(queue_key(project, location, tenant, p) for p in PRIORITIES),
            *(k for k in others if k != queue_key(project, location, tenant, priority)),
        ]
        args = [
            lease_value,
            sid,
            tenant,
            repr(candidate.start_tag),
            repr(new_tag),
            str(grant_ttl_ms),
            place_name(project, location),
            location,
            placed.model or "",
        ]
        return int(self._claim(keys=keys, args=args))
