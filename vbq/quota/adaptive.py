"""Adaptive create rate: the configured rate is a ceiling, Google's 429s push it down (AIMD).

Google's Gemini batch service has no fixed quota but a shared capacity pool that answers 429
``RESOURCE_EXHAUSTED`` when busy, so a fixed rate is either too low or a stream of 429s. Per
(project, location) one Redis hash, ``vbq:adaptive:{project}:{location}``, shared by every
worker, holds the effective create rate as a function of time:

* ``base``: the rate (calls/s) set by the last 429; ``last_429``, ``last_cut``: Redis ``TIME``
  of the last 429 and of the last decrease, in integer µs; ``throttled``: 429s counted.
* **Decrease** (:func:`record_throttled`, the submit path on a 429 to a create): the rate now
  times ``adaptive_decrease_factor``, never below the floor (``adaptive_min_share`` x the
  ceiling), at most once per ``adaptive_decrease_interval_s``: the 429s of creates sent before
  the cut (one window's burst) count once.
* **Increase**: none while 429s keep coming; ``adaptive_quiet_s`` after the last one the rate
  climbs linearly by ``adaptive_increase_share_per_s`` x the ceiling per second, up to the
  ceiling. Computed from the hash and the clock when read (:func:`effective_rate`), so no
  process has to tick; the hash expires once the climb is over (no key = the ceiling).

The rate limiter's create script reads the hash in the same Lua call that takes the token
(:data:`EFFECTIVE_RATE_LUA`), so the adaptive rate costs no extra round trip. Every time is the
Redis server's ``TIME``. The arithmetic here and in Lua is the same, operation for operation, so
:func:`effective_rate` is what the script computes.

``vbq:adaptive:pools`` (a set of ``{project}:{location}``) lists the pools ever throttled, for
the gauge and ``vbq watch`` (never scanned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis as redis_lib

from vbq.logs import get_logger
from vbq.metrics import observe_create_throttled
from vbq.places import places_of, settings_for_place
from vbq.settings import Settings

__all__ = [
    "EFFECTIVE_RATE_LUA",
    "POOLS_KEY",
    "AdaptiveParams",
    "AdaptiveState",
    "EffectiveRate",
    "adaptive_key",
    "after_throttle",
    "effective_rate",
    "read_rates",
    "record_throttled",
]

_log = get_logger(__name__)

POOLS_KEY = "vbq:adaptive:pools"
"""Set of ``{project}:{location}`` whose create rate was ever lowered."""


def adaptive_key(project: str, location: str) -> str:
    """Redis hash of the adaptive create rate of (project, location)."""
    return f"vbq:adaptive:{project}:{location}"


@dataclass(frozen=True, kw_only=True)
class AdaptiveParams:
    """The AIMD constants of one pool, in calls/s and integer µs.

    Attributes:
        ceiling_per_s: the configured create rate (never exceeded).
        floor_per_s: the lowest effective rate.
        factor: multiplier of a decrease, in (0, 1].
        decrease_interval_us: at most one decrease per this long.
        quiet_us: no 429 for this long before climbing.
        increase_per_s2: climb in calls/s per second.
    """

    ceiling_per_s: float
    floor_per_s: float
    factor: float
    decrease_interval_us: int
    quiet_us: int
    increase_per_s2: float

    @classmethod
    def from_settings(cls, settings: Settings) -> AdaptiveParams:
        """The constants of ``settings`` (``create_rate_per_min`` and ``adaptive_*``)."""
        ceiling = settings.create_rate_per_min / 60.0
        return cls(
            ceiling_per_s=ceiling,
            floor_per_s=min(ceiling, ceiling * settings.adaptive_min_share),
            factor=settings.adaptive_decrease_factor,
            decrease_interval_us=round(settings.adaptive_decrease_interval_s * 1e6),
            quiet_us=round(settings.adaptive_quiet_s * 1e6),
            increase_per_s2=ceiling * settings.adaptive_increase_share_per_s,
        )


@dataclass(frozen=True, kw_only=True)
class AdaptiveState:
    """The stored hash (see the module docstring); times in Redis µs."""

    base_per_s: float
    last_429_us: int
    last_cut_us: int
    throttled: int = 0


def effective_rate(state: AdaptiveState | None, now_us: int, params: AdaptiveParams) -> float:
    """The effective create rate (calls/s) at ``now_us``: ``base`` until ``quiet`` after the
    last 429, then climbing linearly; clamped to ``[floor, ceiling]``; no state = ceiling."""
    if state is None:
        return params.ceiling_per_s
    rate = state.base_per_s
    climb_from = state.last_429_us + params.quiet_us
    if now_us > climb_from:
        rate = state.base_per_s + params.increase_per_s2 * (now_us - climb_from) / 1000000
    return max(params.floor_per_s, min(params.ceiling_per_s, rate))


def after_throttle(
    state: AdaptiveState | None, now_us: int, params: AdaptiveParams
) -> tuple[AdaptiveState, bool]:
    """The state after a 429 at ``now_us``, and whether the rate was cut (else the 429 only
    restarts the quiet period: a decrease happened less than ``decrease_interval`` ago)."""
    current = effective_rate(state, now_us, params)
    throttled = (state.throttled if state else 0) + 1
    if state is not None and now_us - state.last_cut_us < params.decrease_interval_us:
        return AdaptiveState(
            base_per_s=current,
            last_429_us=now_us,
            last_cut_us=state.last_cut_us,
            throttled=throttled,
        ), False
    cut = max(params.floor_per_s, current * params.factor)
    return AdaptiveState(
        base_per_s=cut, last_429_us=now_us, last_cut_us=now_us, throttled=throttled
    ), True


EFFECTIVE_RATE_LUA = """
local function vbq_effective_rate(h, now, ceiling, floor, quiet, inc)
  if not h[1] then return ceiling end
  local base = tonumber(h[1])
  local rate = base
  local climb_from = tonumber(h[2]) + quiet
  if now > climb_from then
    rate = base + inc * (now - climb_from) / 1000000
  end
  if rate > ceiling then rate = ceiling end
  if rate < floor then rate = floor end
  return rate
end
"""
"""Lua: ``vbq_effective_rate(HMGET(key, 'base', 'last_429'), now_us, ceiling, floor, quiet_us,
increase)``, the same arithmetic as :func:`effective_rate`."""

# KEYS[1] state, KEYS[2] pools set. ARGV: ceiling, floor, factor, decrease_interval_us, quiet_us,
# increase, pool member, ttl extra ms. Returns {rate after, cut (0/1), now_us}.
_THROTTLED = (
    EFFECTIVE_RATE_LUA
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ceiling, floor = tonumber(ARGV[1]), tonumber(ARGV[2])
local quiet, inc = tonumber(ARGV[5]), tonumber(ARGV[6])
local h = redis.call('HMGET', KEYS[1], 'base', 'last_429', 'last_cut')
local current = vbq_effective_rate(h, now, ceiling, floor, quiet, inc)
local base, last_cut, cut = current, now, 1
if h[1] and now - tonumber(h[3]) < tonumber(ARGV[4]) then
  last_cut, cut = tonumber(h[3]), 0
else
  base = current * tonumber(ARGV[3])
  if base < floor then base = floor end
end
redis.call('HSET', KEYS[1], 'base', string.format('%.17g', base), 'last_429',
  string.format('%d', now), 'last_cut', string.format('%d', last_cut))
redis.call('HINCRBY', KEYS[1], 'throttled', 1)
local climb_ms = (ceiling - base) / inc * 1000
if climb_ms < 0 then climb_ms = 0 end
redis.call('PEXPIRE', KEYS[1], math.ceil(quiet / 1000 + climb_ms) + tonumber(ARGV[8]))
redis.call('SADD', KEYS[2], ARGV[7])
return {string.format('%.17g', base), cut, string.format('%d', now)}
"""
)

_SCRIPT: list[Any] = []


def record_throttled(
    redis: redis_lib.Redis, project: str, location: str, *, settings: Settings
) -> float | None:
    """Count a 429 ``RESOURCE_EXHAUSTED`` answer to a create of (project, location)
    (``vbq_create_throttled_total``) and lower the shared effective rate (at most once per
    ``adaptive_decrease_interval_s``).

    Best effort: a Redis error is logged and swallowed (the ceiling still holds the quota).

    Returns:
        The effective rate now in calls/s, or ``None`` when adaptation is off or Redis failed.
    """
    observe_create_throttled(project, location)
    if not settings.adaptive_rate:
        return None
    params = AdaptiveParams.from_settings(settings_for_place(settings, project, location))
    if not _SCRIPT:  # a Script is its source and SHA: any client can run it (``client=``)
        _SCRIPT.append(redis.register_script(_THROTTLED))
    try:
        rate, cut, _ = _SCRIPT[0](
            keys=[adaptive_key(project, location), POOLS_KEY],
            args=[
                repr(params.ceiling_per_s),
                repr(params.floor_per_s),
                repr(params.factor),
                params.decrease_interval_us,
                params.quiet_us,
                repr(params.increase_per_s2),
                f"{project}:{location}",
                60_000,
            ],
            client=redis,
        )
    except redis_lib.RedisError as exc:
        _log.warning("adaptive.record_failed", error=repr(exc), project=project, location=location)
        return None
    value = float(rate)
    if int(cut):
        _log.info("adaptive.rate_lowered", project=project, location=location, rate_per_s=value)
    return value


@dataclass(frozen=True, kw_only=True)
class EffectiveRate:
    """One pool's create rate as read now.

    Attributes:
        project, location: the pool.
        ceiling_per_s: the configured rate (calls/s).
        effective_per_s: the rate the limiter grants now (calls/s).
        throttled: 429s counted since the state was last at the ceiling (0 without state).
        last_429_age_s: seconds since the last 429 (``None`` without state).
    """

    project: str
    location: str
    ceiling_per_s: float
    effective_per_s: float
    throttled: int = 0
    last_429_age_s: float | None = None


def read_rates(redis: redis_lib.Redis, settings: Settings) -> list[EffectiveRate]:
    """The effective create rate of the default pool and of every pool ever throttled, sorted
    by (project, location). Two round trips (``SMEMBERS`` + ``TIME``, then one ``HMGET`` each).

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    pipe = redis.pipeline(transaction=False)
    pipe.smembers(POOLS_KEY)
    pipe.time()
    members, (sec, usec) = pipe.execute()
    now_us = int(sec) * 1_000_000 + int(usec)
    pools = {(settings.project, settings.location)} if settings.project else set()
    if settings.project:  # every place of the deployment (VBQ_LOCATIONS)
        pools.update((settings.project, loc) for loc in places_of(settings).locations)
    for member in members:
        project, _, location = _text(member).partition(":")
        pools.add((project, location))
    ordered = sorted(pools)
    pipe = redis.pipeline(transaction=False)
    for project, location in ordered:
        pipe.hmget(adaptive_key(project, location), "base", "last_429", "last_cut", "throttled")
    out: list[EffectiveRate] = []
    for (project, location), fields in zip(ordered, pipe.execute(), strict=True):
        state = _state(fields)
        params = AdaptiveParams.from_settings(settings_for_place(settings, project, location))
        out.append(
            EffectiveRate(
                project=project,
                location=location,
                ceiling_per_s=params.ceiling_per_s,
                effective_per_s=effective_rate(
                    state if settings.adaptive_rate else None, now_us, params
                ),
                throttled=state.throttled if state else 0,
                last_429_age_s=(now_us - state.last_429_us) / 1e6 if state else None,
            )
        )
    return out


def _state(fields: list[Any]) -> AdaptiveState | None:
    if not fields or fields[0] is None:
        return None
    base, last_429, last_cut, throttled = (_text(f) if f is not None else "0" for f in fields)
    return AdaptiveState(
        base_per_s=float(base),
        last_429_us=int(last_429),
        last_cut_us=int(last_cut),
        throttled=int(throttled),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)
