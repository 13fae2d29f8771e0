"""Cross-process counters in Redis: events published and handled, creates and 429s over time.

Prometheus metrics (:mod:`vbq.metrics`) are per process; the console needs the same facts for
the whole deployment, so each role adds to a few Redis keys with one call where the fact
happens:

* the outbox relay, after Pub/Sub confirmed events: :func:`record_published`;
* a subscriber, when it marks an event done: :func:`record_handled` (also appends a
  ``handled`` entry to the submission's timeline, :mod:`vbq.store.timeline`);
* the submit path, when Google refuses a create with 429: :func:`record_create_refusal`;
* ``update.lua`` itself counts each job created (the first in-flight state of a submission).

Keys (docs/contracts.md § Console): ``vbq:stats:counters`` (hash of totals since the store
began) and ``vbq:stats:w:{name}:{window}`` (hash tenant -> count for one 10-s window, window =
``floor(redis_time / 10)``, expiring after an hour). Times come from Redis ``TIME``.

Recording is best effort: a Redis error is logged and swallowed (the counters are for
people; the pipeline's guarantees never depend on them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis as redis_lib

from vbq.logs import get_logger
from vbq.store.keys import PREFIX, sub_key, timeline_key

__all__ = [
    "COUNTERS_KEY",
    "CREATES",
    "CREATE_429",
    "HANDLED_LUA",
    "WINDOW_S",
    "WINDOW_TTL_S",
    "StatsSnapshot",
    "handled_keys",
    "read_stats",
    "record_create_refusal",
    "record_handled",
    "record_published",
    "window_key",
]

_log = get_logger(__name__)

COUNTERS_KEY = f"{PREFIX}stats:counters"
"""Hash of totals: ``events_published``, ``events_handled``, ``events_handled:{group}``,
``creates``, ``create_429``."""

WINDOW_S = 10
"""Seconds per window of the windowed counters."""

WINDOW_TTL_S = 3600
"""How long a window is kept (the console charts the last hour at most)."""

CREATES = "creates"
"""Counter of Vertex jobs created (counted by ``update.lua``)."""
CREATE_429 = "create_429"
"""Counter of creates Google refused with 429."""

# KEYS[1] counters, KEYS[2] timeline, KEYS[3] record. ARGV[1] group, ARGV[2] event's state.
_HANDLED = """
redis.call('HINCRBY', KEYS[1], 'events_handled', 1)
redis.call('HINCRBY', KEYS[1], 'events_handled:' .. ARGV[1], 1)
if redis.call('EXISTS', KEYS[3]) == 1 then
  local t = redis.call('TIME')
  local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
  redis.call('RPUSH', KEYS[2], now .. '|handled|' .. ARGV[1] .. '|' .. ARGV[2] .. '|')
end
return 1
"""

# KEYS[1] counters. ARGV[1] counter name, ARGV[2] tenant, ARGV[3] key prefix, ARGV[4] TTL s.
_WINDOWED = """
local t = redis.call('TIME')
local window = ARGV[3] .. 'stats:w:' .. ARGV[1] .. ':' .. math.floor(tonumber(t[1]) / 10)
redis.call('HINCRBY', window, ARGV[2], 1)
redis.call('EXPIRE', window, tonumber(ARGV[4]))
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
"""


def window_key(name: str, window: int) -> str:
    """Hash tenant -> count of counter ``name`` in window ``window`` (``floor(t / 10)``)."""
    return f"{PREFIX}stats:w:{name}:{window}"


def record_published(redis: redis_lib.Redis, n: int) -> None:
    """Add ``n`` events confirmed by Pub/Sub (the relay, after deleting them from the outbox)."""
    if n <= 0:
        return
    try:
        redis.hincrby(COUNTERS_KEY, "events_published", n)
    except redis_lib.RedisError as exc:
        _log.debug("stats.record_failed", counter="events_published", error=repr(exc))


HANDLED_LUA = _HANDLED
"""The body of :func:`record_handled` as Lua, for a script that marks an event handled and
counts it in the same call (it ends with ``return 1``): KEYS[1..3] and ARGV[1..2] as
:func:`handled_keys` gives them."""


def handled_keys(*, group: str, event_id: str) -> tuple[list[str], list[str]]:
    """``(KEYS, ARGV)`` of :data:`HANDLED_LUA` for ``event_id`` handled by ``group``."""
    submission_id, _, state = event_id.rpartition(":")
    return [COUNTERS_KEY, timeline_key(submission_id), sub_key(submission_id)], [group, state]


def record_handled(redis_or_pipeline: Any, *, group: str, event_id: str) -> None:
    """Count ``event_id`` as handled by subscriber ``group`` and add it to its timeline.

    Meant to be queued in the pipeline that marks the event done (so both happen together);
    with a plain client it runs at once.
    """
    keys, args = handled_keys(group=group, event_id=event_id)
    _script(redis_or_pipeline, "handled", _HANDLED)(keys=keys, args=args, client=redis_or_pipeline)


def record_create_refusal(redis: redis_lib.Redis, status_code: int, *, tenant: str) -> None:
    """Count a create Google answered with 429 (other statuses are not counted here)."""
    if status_code != 429:
        return
    try:
        _script(redis, "windowed", _WINDOWED)(
            keys=[COUNTERS_KEY], args=[CREATE_429, tenant, PREFIX, WINDOW_TTL_S], client=redis
        )
    except redis_lib.RedisError as exc:
        _log.debug("stats.record_failed", counter=CREATE_429, error=repr(exc))


def _script(client: Any, name: str, source: str) -> Any:
    # A Script is its source and SHA; any client (or pipeline) can run it via ``client=``.
    script = _SCRIPTS.get(name)
    if script is None:
        script = _SCRIPTS[name] = client.register_script(source)
    return script


_SCRIPTS: dict[str, Any] = {}


@dataclass(frozen=True, kw_only=True)
class StatsSnapshot:
    """The counters at one moment.

    Attributes:
        now_s: Redis ``TIME`` when read (epoch s).
        counters: totals (``events_published``, ``events_handled``,
            ``events_handled:{group}``, ``creates``, ``create_429``).
        windows: per counter name, the windows read, oldest first: ``(start_s, {tenant: n})``;
            the last one is the current, still open window.
    """

    now_s: float
    counters: dict[str, int] = field(default_factory=dict)
    windows: dict[str, list[tuple[float, dict[str, int]]]] = field(default_factory=dict)

    def recent(self, name: str, *, seconds: int = 60, tenant: str | None = None) -> int:
        """Count of ``name`` in the last ``seconds // 10`` windows, the open one included (so
        what just happened shows at once; the span is ``seconds - 10`` to ``seconds``)."""
        keep = self.windows.get(name, [])[-max(1, seconds // WINDOW_S) :]
        return sum(
            sum(counts.values()) if tenant is None else counts.get(tenant, 0) for _, counts in keep
        )

    def recent_by_tenant(self, name: str, *, seconds: int = 60) -> dict[str, int]:
        """Per-tenant counts of ``name`` in the windows :meth:`recent` counts."""
        out: dict[str, int] = {}
        for _, counts in self.windows.get(name, [])[-max(1, seconds // WINDOW_S) :]:
            for tenant, n in counts.items():
                out[tenant] = out.get(tenant, 0) + n
        return out

    def handled_by_group(self) -> dict[str, int]:
        """Events handled per subscriber group."""
        return {
            k.removeprefix("events_handled:"): v
            for k, v in self.counters.items()
            if k.startswith("events_handled:")
        }


def read_stats(
    redis: redis_lib.Redis, *, seconds: int = 600, names: tuple[str, ...] = (CREATES, CREATE_429)
) -> StatsSnapshot:
    """Read the totals and the windows of the last ``seconds`` (two round trips).

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    sec, usec = redis.time()
    now_s = float(sec) + float(usec) / 1e6
    current = int(sec) // WINDOW_S
    first = current - max(1, seconds // WINDOW_S)
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(COUNTERS_KEY)
    for name in names:
        for w in range(first, current + 1):
            pipe.hgetall(window_key(name, w))
    replies = pipe.execute()
    counters = {_text(k): int(_text(v)) for k, v in dict(replies[0]).items()}
    windows: dict[str, list[tuple[float, dict[str, int]]]] = {}
    it = iter(replies[1:])
    for name in names:
        windows[name] = [
            (float(w * WINDOW_S), {_text(k): int(_text(v)) for k, v in dict(next(it)).items()})
            for w in range(first, current + 1)
        ]
    return StatsSnapshot(now_s=now_s, counters=counters, windows=windows)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
