"""In-flight slots: caps on unfinished Vertex jobs per (project, location) and per model.

Keys: ``vbq:slots:{project}:{location}`` and, when ``max_in_flight_per_model > 0``,
``vbq:slots:{project}:{location}:{model}``; zsets whose member is the submission id and whose
score is the lease expiry in epoch seconds of the Redis server's clock (``+inf`` = held by a
job). Every change is one Lua script over both zsets, so the two caps move together.

Protocol
--------
1. **Take** (submit task, before the create call): ``try_take(id, p, l, model, lease_s)`` with a
   short lease that covers the create attempt (e.g. twice the create timeout). Taking again
   for the same submission succeeds and refreshes the lease (never shortens a held slot), so a
   redelivered task is harmless. A refusal carries ``retry_after_s``: a hint to come back
   after about one poll interval (a slot frees when the poller sees a job finish).
2. **Hold** (submit task, after the job exists and the store moved the submission to
   SUBMITTED): ``hold(id, p, l, model)`` turns the lease into ``+inf``, "held by the job".
   It only updates an existing entry, so it never resurrects a released slot.
3. **Release** (poller, when the job finishes; submit task, when it gives up before
   creating): ``release(id, p, l, model)``.

Recovery, done by the take script before it counts, so no background process is needed:

- An expired lease whose submission is in ``vbq:inflight:{p}:{l}`` (its job was created, but
  the submit task crashed before ``hold``) is promoted to ``+inf``: a running job always
  counts. Any other expired lease (the task crashed before or during create) is removed.
- A held entry whose submission has left ``vbq:inflight:{p}:{l}`` (its job finished but the
  ``release`` was lost, e.g. the poller crashed between the transition and the release) is
  removed. This sweep costs one ``ZSCORE`` per held entry, so it runs only when the pool is
  full and at most once per second per (project, location) (marker key
  ``vbq:slots-sweep:{p}:{l}``).

Hence ``hold`` must come after the SUBMITTED transition (which puts the submission on the
in-flight list), or a sweep could drop the entry in between.
"""

from __future__ import annotations

import math
from typing import Any

from vbq.places import settings_for_place
from vbq.quota.ratelimit import Decision
from vbq.settings import Settings

__all__ = ["POOLS_KEY", "Slots", "model_slots_key", "slots_key"]

POOLS_KEY = "vbq:slots:pools"
"""Set of every slot pool key a take has used (``vbq:slots:{p}:{l}[:{model}]``): the metrics
scrape reads it instead of a ``SCAN``."""

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local id, lease = ARGV[1], ARGV[2]
local caps = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local inflight, marker = KEYS[2], KEYS[3]
local pools = {KEYS[1]}
if KEYS[4] then
  pools[2] = KEYS[4]
end

local function reap(key)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', now)) do
    if redis.call('ZSCORE', inflight, m) then
      redis.call('ZADD', key, 'inf', m)
    else
      redis.call('ZREM', key, m)
    end
  end
end

local function sweep(key)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, 'inf', 'inf')) do
    if not redis.call('ZSCORE', inflight, m) then
      redis.call('ZREM', key, m)
    end
  end
end

local function full(i)
  local key = pools[i]
  return not redis.call('ZSCORE', key, id) and redis.call('ZCARD', key) >= caps[i]
end

for i = 1, #pools do
  reap(pools[i])
end
local swept = false
for i = 1, #pools do
  if full(i) then
    if not swept and redis.call('SET', marker, '1', 'NX', 'PX', 1000) then
      for j = 1, #pools do
        sweep(pools[j])
      end
      swept = true
    end
    if full(i) then
      return {0, i, tostring(now)}
    end
  end
end

local expiry = 'inf'
if lease ~= 'inf' then
  expiry = string.format('%.6f', now + tonumber(lease))
end
for i = 1, #pools do
  -- Never shorten a slot already held by a job (a redelivered submit task).
  if redis.call('ZSCORE', pools[i], id) ~= 'inf' then
    redis.call('ZADD', pools[i], expiry, id)
  end
  -- Every pool ever used, so the metrics scrape never SCANs for them (POOLS_KEY).
  redis.call('SADD', 'vbq:slots:pools', pools[i])
end
return {1, 0, tostring(now)}
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local expiry = 'inf'
if ARGV[2] ~= 'inf' then
  expiry = string.format('%.6f', now + tonumber(ARGV[2]))
end
local found = 0
for i = 1, #KEYS do
  found = found + redis.call('ZADD', KEYS[i], 'XX', 'CH', expiry, ARGV[1])
end
if found == 0 then
  -- CH counts only changed scores: an unchanged +inf entry is still held.
  for i = 1, #KEYS do
    if redis.call('ZSCORE', KEYS[i], ARGV[1]) then
      found = 1
    end
  end
end
return found
"""

_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.6f', now), '+inf')
"""


def slots_key(project: str, location: str) -> str:
    """Redis key of the slot pool of (project, location)."""
    return f"vbq:slots:{project}:{location}"


def model_slots_key(project: str, location: str, model: str) -> str:
    """Redis key of the per-model slot pool."""
    return f"vbq:slots:{project}:{location}:{model}"


def _lease_arg(lease_s: float | None) -> str:
    if lease_s is None or math.isinf(lease_s):
        return "inf"
    return repr(max(0.0, float(lease_s)))


class Slots:
    """Caps on unfinished Vertex jobs, shared by every worker (see the module docstring).

    ``settings.max_in_flight`` caps each (project, location); ``max_in_flight_per_model``
    (when > 0) also caps each model there; ``VBQ_LOCATION_LIMITS`` overrides both per place
    (:func:`vbq.places.settings_for_place`).

    Args:
        redis: a ``redis.Redis`` client.
        settings: the caps, and ``poll_interval_s`` as the retry hint of a refusal.
    """

    def __init__(self, redis: Any, *, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._take = redis.register_script(_TAKE)
        self._renew = redis.register_script(_RENEW)
        self._count = redis.register_script(_COUNT)

    def _keys(
        self, project: str, location: str, model: str | None, placed: Settings | None = None
    ) -> list[str]:
        keys = [slots_key(project, location)]
        placed = placed or settings_for_place(self.settings, project, location)
        per_model = placed.max_in_flight_per_model
        if per_model > 0 and model:
            keys.append(model_slots_key(project, location, model))
        return keys

    def try_take(
        self,
        submission_id: str,
        project: str,
        location: str,
        model: str | None,
        lease_s: float | None,
    ) -> Decision:
        """Take (or refresh) the slot of ``submission_id``; never blocks.

        Args:
            lease_s: seconds until the slot frees itself unless held or renewed; None or
                ``math.inf`` takes it as held by a job.

        Returns:
            ``Decision(allowed=True)``, or a refusal whose ``retry_after_s`` is a hint
            (``settings.poll_interval_s``).

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        placed = settings_for_place(self.settings, project, location)
        pools = self._keys(project, location, model, placed)
        keys = [pools[0], f"vbq:inflight:{project}:{location}", _sweep_key(project, location)]
        keys += pools[1:]
        allowed, _, now = self._take(
            keys=keys,
            args=[
                submission_id,
                _lease_arg(lease_s),
                placed.max_in_flight,
                placed.max_in_flight_per_model,
            ],
        )
        ok = bool(int(allowed))
        return Decision(
            allowed=ok,
            retry_after_s=0.0 if ok else self.settings.poll_interval_s,
            server_time_s=float(now),
        )

    def renew(
        self,
        submission_id: str,
        project: str,
        location: str,
        model: str | None,
        lease_s: float | None,
    ) -> bool:
        """Set the lease of an existing slot to ``lease_s`` from now (None: held by a job).

        Returns:
            True when the submission holds a slot; False when it held none (nothing added).

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        keys = self._keys(project, location, model)
        return bool(int(self._renew(keys=keys, args=[submission_id, _lease_arg(lease_s)])))

    def hold(self, submission_id: str, project: str, location: str, model: str | None) -> bool:
        """Mark the slot as held by the now existing job (lease ``+inf``).

        Call it after the store moved the submission to SUBMITTED. Returns False when the
        submission held no slot (nothing added).

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        return self.renew(submission_id, project, location, model, None)

    def release(self, submission_id: str, project: str, location: str, model: str | None) -> bool:
        """Free the slot of ``submission_id`` (idempotent).

        Returns:
            True when a slot was freed.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        # Always both pools, whatever the per-model setting is now: it may have changed.
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(slots_key(project, location), submission_id)
        if model:
            pipe.zrem(model_slots_key(project, location, model), submission_id)
        return bool(int(pipe.execute()[0]))

    def in_use(self, project: str, location: str, model: str | None = None) -> int:
        """Slots whose lease has not expired (server clock) in (project, location), or in
        the model's pool when ``model`` is given.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        key = model_slots_key(project, location, model) if model else slots_key(project, location)
        return int(self._count(keys=[key], args=[]))


def _sweep_key(project: str, location: str) -> str:
    return f"vbq:slots-sweep:{project}:{location}"
