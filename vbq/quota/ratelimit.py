"""Global rate limits on Vertex calls: GCRA in one Lua script, on the Redis server's clock.

One key per (kind, project, location): ``vbq:rl:{kind}:{project}:{location}`` holds the
theoretical arrival time (TAT) in integer microseconds of the Redis server's ``TIME``. Every
worker process on every host asks the same key, so the limit holds globally, and no host clock
is ever read, so clock skew between hosts cannot let extra calls through.

GCRA with emission interval ``T`` (µs per call) and tolerance ``tau``: a call at server time
``now`` is allowed when ``max(TAT, now) - tau <= now``; then ``TAT = max(TAT, now) + T``. The
arithmetic is in whole microseconds (exact in Lua's doubles up to 2^53 µs), and ``T`` is
rounded up to the next whole microsecond plus one, so any closed window of ``W`` seconds holds
at most ``floor((W * 1e6 + tau) / T) + 1`` grants.

The quota is counted where Google receives the calls, and the time from a grant to that
arrival varies (process scheduling, the network): by up to ``m = rate_limit_margin_s``, a 1 s
window at Google holds the grants of a ``W = 1 + m`` s window here. :func:`gcra_params` picks
the largest ``tau`` (whole intervals, at most ``burst``) with which any ``W`` window holds at
most ``floor(rate_per_s + burst)`` grants, the bar the quota invariant is measured against
(invariant 4, docs/architecture.md § Invariants): usually ``burst - ceil(m * rate_per_s)``
intervals, with the steady rate untouched. When even ``tau = 0`` does not fit (a burst smaller than
``m * rate_per_s``), it spaces grants further apart instead (``T = W / bar``, a lower steady
rate, logged when the limiter is built): the quota comes first.

With ``adaptive_rate`` on, the ``create`` limit runs at the pool's effective rate
(:mod:`vbq.quota.adaptive`), read from Redis inside the same script: the configured rate is a
ceiling, and ``(T, tau)`` follow the effective rate (:func:`adaptive_gcra_params`) without ever
letting more than the ceiling's bar into a window.

Celery tasks use :meth:`RateLimiter.try_acquire` and re-schedule themselves with
``countdown=retry_after_s`` instead of blocking a worker; the poller uses
:meth:`RateLimiter.acquire_blocking`.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from vbq.errors import ConfigError
from vbq.logs import get_logger
from vbq.metrics import observe_rate_limit_wait
from vbq.places import settings_for_place
from vbq.quota.adaptive import EFFECTIVE_RATE_LUA, AdaptiveParams, adaptive_key
from vbq.settings import Settings

__all__ = [
    "KINDS",
    "Decision",
    "RateLimiter",
    "adaptive_gcra_params",
    "emission_interval_us",
    "gcra_params",
    "rate_key",
    "window_us",
]

_log = get_logger(__name__)

KINDS: frozenset[str] = frozenset({"create", "read"})
"""Call kinds with their own budget: ``create`` (create calls) and ``read`` (get/list/cancel)."""

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
"""

# The create limit under an adaptive rate (vbq.quota.adaptive): KEYS[2] is the pool's adaptive
# hash; without it the ceiling's (T, tau) in ARGV[1..2] stand. Else T and tau come from the
# effective rate as gcra_params computes them (ARGV[3..8]: ceiling and floor per s, quiet µs,
# increase per s², burst, window µs), the burst scaled by rate / ceiling, and never a shorter
# T nor a longer tau than the ceiling's: every window then holds at most the ceiling's bar.
_ADAPT = """
local h = redis.call('HMGET', KEYS[2], 'base', 'last_429')
if h[1] then
  local ceiling = tonumber(ARGV[3])
  local rate = vbq_effective_rate(h, now, ceiling, tonumber(ARGV[4]), tonumber(ARGV[5]),
    tonumber(ARGV[6]))
  if rate < ceiling then
    local per_min = rate * 60
    local window = tonumber(ARGV[8])
    local burst = math.floor(tonumber(ARGV[7]) * rate / ceiling)
    local iv = math.floor(60000000 / per_min) + 1
    local bar = math.max(1, math.floor(per_min / 60 + burst))
    local spare = bar - 1 - math.floor(window / iv)
    local ta = 0
    if spare >= 0 then
      ta = math.min(spare, burst) * iv
    else
      iv = math.max(iv, math.floor(window / bar) + 1)
    end
    if iv > interval then interval = iv end
    if ta < tau then tau = ta end
  end
end
"""

_TAKE = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local allow_at = tat - tau
if allow_at > now then
  return {0, string.format('%d', allow_at - now), string.format('%d', now)}
end
local new_tat = tat + interval
-- Expire once the bucket is full again, so idle keys do not accumulate.
local ttl_ms = math.floor((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
return {1, '0', string.format('%d', now)}
"""

_GCRA = _NOW + _TAKE
_ADAPTIVE_GCRA = EFFECTIVE_RATE_LUA + _NOW + _ADAPT + _TAKE


@dataclass(frozen=True, kw_only=True)
class Decision:
    """An answer of a limiter or a slot pool.

    Attributes:
        allowed: the call may go now (or the slot was taken).
        retry_after_s: when not allowed, seconds until asking again makes sense (0 when
            allowed; a hint, not a reservation).
        server_time_s: the Redis server's clock at the decision, epoch seconds.
    """

    allowed: bool
    retry_after_s: float = 0.0
    server_time_s: float = 0.0

    def __bool__(self) -> bool:
        return self.allowed


def rate_key(kind: str, project: str, location: str) -> str:
    """Redis key of the GCRA state of (kind, project, location)."""
    return f"vbq:rl:{kind}:{project}:{location}"


def emission_interval_us(rate_per_min: float) -> int:
    """Microseconds between calls at ``rate_per_min``, rounded so the rate is never exceeded.

    Raises:
        ConfigError: the rate is not positive.
    """
    if not rate_per_min > 0:
        raise ConfigError(f"rate per minute must be > 0, got {rate_per_min}")
    # +1 µs: a grant exactly 1 s after another window's first one then never fits in it.
    return int(60_000_000 // rate_per_min) + 1


def gcra_params(rate_per_min: float, burst: int, margin_s: float) -> tuple[int, int]:
    """``(T, tau)`` in µs so that no 1 s window at Google sees more than ``rate + burst``
    calls while grant-to-arrival delays vary by at most ``margin_s`` (module docstring).

    Args:
        rate_per_min: the steady rate asked for (calls per minute, > 0).
        burst: calls allowed above it at once (>= 0).
        margin_s: the delay spread to absorb, in seconds (>= 0).

    Raises:
        ConfigError: the rate is not positive.
    """
    interval = emission_interval_us(rate_per_min)
    window = window_us(margin_s)
    burst = max(0, burst)
    bar = max(1, math.floor(rate_per_min / 60 + burst))  # calls one second at Google may see
    spare = bar - 1 - window // interval  # intervals of tolerance that still fit the bar
    if spare >= 0:
        return interval, min(spare, burst) * interval
    return max(interval, window // bar + 1), 0


def window_us(margin_s: float) -> int:
    """The window at the limiter that a 1 s window at Google maps to: ``1 s + margin``, in µs."""
    return 1_000_000 + math.ceil(max(0.0, margin_s) * 1_000_000)


def adaptive_gcra_params(
    rate_per_s: float, *, ceiling_per_s: float, burst: int, margin_s: float
) -> tuple[int, int]:
    """``(T, tau)`` of the create limit at the effective rate ``rate_per_s`` (what the create
    script computes in Lua, operation for operation).

    At the ceiling it is :func:`gcra_params` of the configured rate. Below it, the same rule at
    the lower rate with the burst scaled by ``rate / ceiling`` (a pool answering 429 gets no
    bursts), then never a shorter ``T`` nor a longer ``tau`` than the ceiling's: whatever the
    rate does between grants, a window holds at most the ceiling's bar.

    Raises:
        ConfigError: a rate is not positive.
    """
    interval, tau = gcra_params(ceiling_per_s * 60, burst, margin_s)
    if rate_per_s >= ceiling_per_s:
        return interval, tau
    if not rate_per_s > 0:
        raise ConfigError(f"rate per second must be > 0, got {rate_per_s}")
    per_min = rate_per_s * 60
    window = window_us(margin_s)
    scaled = math.floor(max(0, burst) * rate_per_s / ceiling_per_s)
    iv = math.floor(60000000 / per_min) + 1
    bar = max(1, math.floor(per_min / 60 + scaled))
    spare = bar - 1 - math.floor(window / iv)
    ta = 0
    if spare >= 0:
        ta = min(spare, scaled) * iv
    else:
        iv = max(iv, math.floor(window / bar) + 1)
    return max(iv, interval), min(ta, tau)


def _limit(kind: str, rate_per_min: float, burst: int, margin_s: float) -> tuple[int, int]:
    """:func:`gcra_params`, with a warning when the margin costs steady rate."""
    interval, tau = gcra_params(rate_per_min, burst, margin_s)
    if interval > emission_interval_us(rate_per_min):
        _log.warning(
            "ratelimit.rate_lowered_for_margin",
            kind=kind,
            asked_per_min=rate_per_min,
            granted_per_min=round(60_000_000 / interval, 3),
            burst=burst,
            margin_s=margin_s,
            hint="raise the burst to at least margin_s x rate, or lower the margin",
        )
    return interval, tau


def _place_params(settings: Settings) -> tuple[dict[str, tuple[int, int]], list[Any]]:
    """``(T, tau)`` per kind and the adaptive script's arguments for ``settings``' rates."""
    margin_s = settings.rate_limit_margin_s
    limits = {
        "create": _limit("create", settings.create_rate_per_min, settings.create_burst, margin_s),
        "read": _limit("read", settings.read_rate_per_min, settings.read_burst, margin_s),
    }
    params = AdaptiveParams.from_settings(settings)
    adaptive_args: list[Any] = [
        repr(params.ceiling_per_s),
        repr(params.floor_per_s),
        params.quiet_us,
        repr(params.increase_per_s2),
        max(0, settings.create_burst),
        window_us(margin_s),
    ]
    return limits, adaptive_args


class RateLimiter:
    """Global GCRA limiter per (kind, project, location), configured from :class:`Settings`.

    ``create`` uses ``create_rate_per_min`` and ``create_burst``; ``read`` uses
    ``read_rate_per_min`` and ``read_burst``. ``burst`` is how many calls may go above the
    steady rate at once, as Google counts them: a rested key grants ``burst + 1`` calls
    immediately, less about ``rate_limit_margin_s * rate_per_s`` held back for delay
    variation (:func:`gcra_params`). A place with ``VBQ_LOCATION_LIMITS`` overrides uses its
    own rates and bursts (:func:`vbq.places.settings_for_place`). With ``adaptive_rate`` on,
    ``create`` runs at the pool's effective rate, never above the configured one
    (:mod:`vbq.quota.adaptive`).

    Args:
        redis: a ``redis.Redis`` client (shared with the store is fine).
        settings: rates and bursts.
    """

    def __init__(self, redis: Any, *, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._script = redis.register_script(_GCRA)
        self._adaptive_script = redis.register_script(_ADAPTIVE_GCRA)
        self._limits, self._adaptive_args = _place_params(settings)
        # Places with VBQ_LOCATION_LIMITS overrides (vbq.places): their own rates and bursts.
        self._per_place: dict[tuple[str, str], tuple[dict[str, tuple[int, int]], list[Any]]] = {}

    def try_acquire(self, kind: str, project: str, location: str) -> Decision:
        """Take one call of ``kind`` now if the budget allows; never blocks.

        Returns:
            ``Decision(allowed=True)``, or ``allowed=False`` with ``retry_after_s``: the
            earliest time (seconds from now, server clock) a call could be granted.

        Raises:
            ConfigError: ``kind`` is not ``create`` or ``read``.
            redis.RedisError: Redis is unreachable.
        """
        limits, adaptive_args = self._params(project, location)
        try:
            interval, tau = limits[kind]
        except KeyError:
            raise ConfigError(f"unknown rate-limit kind {kind!r} (use create or read)") from None
        if kind == "create" and self.settings.adaptive_rate:
            allowed, wait_us, now_us = self._adaptive_script(
                keys=[rate_key(kind, project, location), adaptive_key(project, location)],
                args=[interval, tau, *adaptive_args],
            )
        else:
            allowed, wait_us, now_us = self._script(
                keys=[rate_key(kind, project, location)], args=[interval, tau]
            )
        decision = Decision(
            allowed=bool(int(allowed)),
            retry_after_s=int(wait_us) / 1e6,
            server_time_s=int(now_us) / 1e6,
        )
        if not decision.allowed:
            observe_rate_limit_wait(kind, decision.retry_after_s)
        return decision

    def _params(self, project: str, location: str) -> tuple[dict[str, tuple[int, int]], list[Any]]:
        placed = settings_for_place(self.settings, project, location)
        if placed is self.settings:
            return self._limits, self._adaptive_args
        found = self._per_place.get((project, location))
        if found is None:
            found = self._per_place[(project, location)] = _place_params(placed)
        return found

    def acquire_blocking(
        self, kind: str, project: str, location: str, timeout_s: float
    ) -> Decision:
        """Wait (sleeping, not spinning) until a call of ``kind`` is granted or time runs out.

        Args:
            timeout_s: longest wait in seconds (host monotonic clock; only the grant itself
                uses the server clock).

        Returns:
            The granting decision, or the last refusal when ``timeout_s`` passed first.

        Raises:
            ConfigError: unknown ``kind``.
            redis.RedisError: Redis is unreachable.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            decision = self.try_acquire(kind, project, location)
            if decision.allowed:
                return decision
            left = deadline - time.monotonic()
            if left <= 0:
                return decision
            # A little jitter keeps waiters of one key from all asking at the same instant.
            time.sleep(min(left, decision.retry_after_s + random.uniform(0.0, 0.002)))
