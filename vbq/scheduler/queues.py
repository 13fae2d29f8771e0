"""The scheduler's queues in Redis: what the dispatcher reads and its fenced writes.

Writers: ``create.lua`` queues a new submission and activates its tenant; ``update.lua``
removes a submission from its queue when it leaves ACCEPTED (cancel, a submit attempt); the
dispatcher removes the one it dispatches (:data:`DISPATCH_SCRIPT`) and deactivates tenants whose
queues emptied (:data:`_DEACTIVATE`), both only while it holds ``vbq:sched:lock``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from vbq.broker.due import DUE_KEY
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

__all__ = ["DISPATCH_SCRIPT", "Candidate", "SchedulerQueues"]

# One script for the plain commit and the placement claim (SchedulerQueues.commit).
# KEYS: lock, queue, active, clock, tags, due, grant, places, record, the tenant's 3 queues at
# this place, then (a claim) the same (tenant, priority) queue at the other places.
# ARGV: lock value, id, tenant, start tag, new tag, grant ttl ms, place name, then (a claim)
# location, model ("" keeps the record's). A claim drops a stale entry (record no longer
# ACCEPTED), takes the id out of the other places' queues and writes the record's location.
# Returns -1 (lease lost: nothing written), 0 (no longer queued, or stale), 1 (dispatched).
DISPATCH_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local claim = ARGV[8] ~= nil
if claim and redis.call('HGET', KEYS[9], 'state') ~= 'ACCEPTED' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 0
end
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if claim then
  for i = 13, #KEYS do redis.call('ZREM', KEYS[i], ARGV[2]) end
  redis.call('HSET', KEYS[9], 'location', ARGV[8])
  if ARGV[9] ~= '' then redis.call('HSET', KEYS[9], 'model', ARGV[9]) end
end
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
assert len(PRIORITIES) == 3, "DISPATCH_SCRIPT reads the tenant's queues as KEYS[10..12]"


# KEYS: lock, active, tags, places, the tenant's queues... ARGV: lock value, tenant, place.
# Deactivates the tenant when all its queues are empty (its tag kept for later). Returns 1 if so.
_DEACTIVATE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 5, #KEYS do
  if redis.call('ZCARD', KEYS[i]) > 0 then return 0 end
end
local tag = redis.call('ZSCORE', KEYS[2], ARGV[2])
if tag then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[2], tag)
end
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[4], ARGV[3]) end
return 1
"""

# KEYS: record hash. ARGV: id, key prefix ("vbq:"). Puts an ACCEPTED, once-queued submission
# back at its place in its queue (its arrival number) and activates its tenant as create.lua
# does. Returns 1 when requeued, 0 when it is not ACCEPTED or was never queued.
_REQUEUE = """
local f = redis.call('HMGET', KEYS[1], 'state', 'project', 'location', 'tenant', 'priority',
  'qseq', 'locations')
if f[1] ~= 'ACCEPTED' or not f[6] then return 0 end
local prefix, tenant = ARGV[2], f[4] or 'default'
-- Back in line: its due mark goes in the same step (the next dispatch writes a new one, and
-- the task that gave it back must not clear that one: it keeps the mark alone).
redis.call('ZREM', prefix .. 'submit:due', ARGV[1])
-- Several acceptable locations (docs § Placement): back in the queue of each, so that any
-- place with a token and a slot may claim it again; otherwise at its own place.
local locations = {}
if f[7] and f[7] ~= '' then
  for loc in string.gmatch(f[7], '[^,]+') do locations[#locations + 1] = loc end
else
  locations[1] = f[3] or ''
end
for _, loc in ipairs(locations) do
  local place = (f[2] or '') .. ':' .. loc
  redis.call('ZADD', prefix .. 'sched:queue:' .. place .. ':' .. tenant .. ':'
    .. (f[5] or 'default'), f[6], ARGV[1])
  local active = prefix .. 'sched:active:' .. place
  if not redis.call('ZSCORE', active, tenant) then
    local clock = tonumber(redis.call('GET', prefix .. 'sched:clock:' .. place) or '0')
    local last = tonumber(redis.call('HGET', prefix .. 'sched:tags:' .. place, tenant) or '0')
    redis.call('ZADD', active, math.max(clock, last), tenant)
    redis.call('SADD', prefix .. 'sched:places', (f[2] or '') .. '|' .. loc)
  end
end
return 1
"""

_TENANTS_LOOKED_AT = 32  # backlogged tenants examined per pick (caps may block the first ones)


@dataclass(frozen=True, slots=True)
class Candidate:
    """The head of the queue the scheduler would serve next at a place."""

    submission_id: str
    tenant: str
    priority: str
    start_tag: float
    model: str | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SchedulerQueues:
    """Reads and fenced writes of the queues of every place.

    Args:
        redis_client: the vbq Redis.
    """

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client
        self._commit = redis_client.register_script(DISPATCH_SCRIPT)
        self._deactivate = redis_client.register_script(_DEACTIVATE)
        self._requeue = redis_client.register_script(_REQUEUE)

    def requeue(self, submission_id: str) -> bool:
        """Put an ACCEPTED submission back at its place in its queue (a submit attempt that
        could not get a create token or a slot gives it back to the dispatcher instead of
        re-publishing itself with a countdown); one with several acceptable locations goes
        back to the queue of each (docs/contracts.md § Placement).

        Returns:
            True when requeued; False when it is not ACCEPTED or was never queued.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        keys = [f"vbq:sub:{submission_id}"]
        return bool(self._requeue(keys=keys, args=[submission_id, "vbq:"]))

    def places(self) -> list[tuple[str, str]]:
        """(project, location) of every place with queued submissions."""
        from vbq.scheduler.keys import place_of

        return sorted(place_of(_text(m)) for m in self.redis.smembers(PLACES_KEY))

    def tenant_tags(self, project: str, location: str) -> list[tuple[str, float]]:
        """(tenant, start tag) of the backlogged tenants, smallest tags first (at most 32)."""
        raw: list[Any] = self.redis.zrange(  # type: ignore[assignment]
            active_key(project, location), 0, _TENANTS_LOOKED_AT - 1, withscores=True
        )
        return [(_text(pair[0]), float(pair[1])) for pair in raw]

    def head(self, project: str, location: str, tenant: str) -> tuple[str, str] | None:
        """(submission id, priority) at the front of the tenant's highest non-empty queue."""
        pipe = self.redis.pipeline(transaction=False)
        for priority in PRIORITIES:
            pipe.zrange(queue_key(project, location, tenant, priority), 0, 0)
        for priority, found in zip(PRIORITIES, pipe.execute(), strict=True):
            if found:
                return _text(found[0]), priority
        return None

    def commit(
        self,
        lease_value: str,
        candidate: Candidate,
        *,
        project: str,
        location: str,
        new_tag: float,
        grant_ttl_ms: int,
        locations: Sequence[str] = (),
        model: str | None = None,
    ) -> int:
        """Take ``candidate`` out of its queue, advance its tenant, mark it due, leave a grant.

        With ``locations`` (a submission with several acceptable places), the claim form
        (docs/contracts.md § Placement): a stale entry is dropped, the submission leaves its
        queues at the other places, and its record's location (and ``model``, when given)
        becomes this place.

        Returns:
            1 dispatched; 0 it left its queue meanwhile (cancelled, or a stale claim); -1 the
            lease was lost.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        tenant, priority, sid = candidate.tenant, candidate.priority, candidate.submission_id
        here = queue_key(project, location, tenant, priority)
        keys = [
            LOCK_KEY,
            here,
            active_key(project, location),
            clock_key(project, location),
            tags_key(project, location),
            DUE_KEY,
            grant_key(sid),
            PLACES_KEY,
            f"vbq:sub:{sid}",
            *(queue_key(project, location, tenant, p) for p in PRIORITIES),
        ]
        args = [
            lease_value,
            sid,
            tenant,
            repr(candidate.start_tag),
            repr(new_tag),
            str(grant_ttl_ms),
            place_name(project, location),
        ]
        if locations:
            others = (queue_key(project, loc, tenant, priority) for loc in locations)
            keys += [k for k in others if k != here]
            args += [location, model or ""]
        return int(self._commit(keys=keys, args=args))

    def deactivate_if_empty(
        self, lease_value: str, project: str, location: str, tenant: str
    ) -> int:
        """Drop ``tenant`` from the place's backlogged tenants when its queues are empty.

        Returns:
            1 dropped, 0 it still has work, -1 the lease was lost.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        keys = [
            LOCK_KEY,
            active_key(project, location),
            tags_key(project, location),
            PLACES_KEY,
            *(queue_key(project, location, tenant, p) for p in PRIORITIES),
        ]
        return int(
            self._deactivate(keys=keys, args=[lease_value, tenant, place_name(project, location)])
        )
