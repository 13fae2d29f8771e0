"""Redis inbox: run a handler once per ``event_id`` per subscriber group.

Pub/Sub delivers at least once, and vbq's relay may publish an event twice (deterministic
``event_id``), so the subscriber dedupes. Key ``vbq:inbox:{group}:{event_id}`` (a string):

- absent: nobody handled the event yet;
- ``claim:{owner}:{nonce}``: a process is running the handlers now; the key is a short lease
  (``lease_s``, :mod:`vbq.leases`) that the runtime renews while the handlers run, so a crashed
  process's claim expires and a redelivery elsewhere can take over;
- ``done`` (or ``done:{rerun id}``): the handlers ran to the end; kept for ``ttl_s``
  (``Settings.inbox_ttl_s``).

Replays (``vbq events replay``) redeliver events that are ``done``; by default they are acked
without running. ``--rerun`` writes a *rerun window* to the hash ``vbq:inbox:{group}:rerun``
(``id``, ``since_s``, ``until_s``, epoch seconds): an event whose message was published inside
the window and whose mark is not ``done:{id}`` runs again once, and its mark becomes
``done:{id}``, so a second redelivery of the same replay does not run it a third time. Events
published after the window (new traffic, or a relay's re-publish) dedupe as always.

When several handlers match one event, each finished handler is also recorded in the set
``vbq:inbox:{group}:{event_id}:handlers`` so a retry after a partial failure runs only the ones
that did not finish; the set is deleted when the event is done.
"""

from __future__ import annotations

import enum
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis as redis_lib

from vbq.leases import Claim, Leases
from vbq.stats import HANDLED_LUA, handled_keys
from vbq.subscribers.batching import Coalescer

__all__ = ["ClaimStatus", "Inbox", "RerunWindow", "inbox_key", "rerun_key"]

_DONE = "done"

# Claim many events in ONE call: per event the lease take of vbq.leases (renew when it already
# holds our token, else take it when free). KEYS[i] inbox key; ARGV[1] lease in ms, ARGV[1 + i]
# token. Returns {held (1/0), value held or the holder's value, ...} per key.
_CLAIM_MANY = """
local out = {}
for i = 1, #KEYS do
  local token = ARGV[i + 1]
  local cur = redis.call('GET', KEYS[i])
  if cur then
    if cur == token then
      redis.call('PEXPIRE', KEYS[i], ARGV[1])
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
    out[#out + 1] = cur
  else
    redis.call('SET', KEYS[i], token, 'PX', ARGV[1])
    out[#out + 1] = 1
    out[#out + 1] = token
  end
end
return out
"""

# Mark many events done in ONE call: per event, the rerun window that covers its publish time
# names the mark, the per-handler progress goes, and the console counts it (vbq.stats.HANDLED_LUA
# as a local function: its KEYS[1..3] / ARGV[1..2] are the event's). What every event shares is
# passed once. KEYS[1] the counters hash (handled_keys' first), KEYS[2] the group's rerun hash;
# ARGV[1] the group, ARGV[2] TTL of the mark in s. Per event i (from 0): KEYS[4i+3 .. 4i+4] its
# timeline and record keys (handled_keys' second and third), KEYS[4i+5] inbox key, KEYS[4i+6]
# its handlers set; ARGV[2i+3] its state (handled_keys' second arg), ARGV[2i+4] its publish
# time ("" unknown).
_COMPLETE_MANY = (
    "local function handled(KEYS, ARGV)\n"
    + HANDLED_LUA
    + """
end
local w = redis.call('HMGET', KEYS[2], 'id', 'since_s', 'until_s')
local window = w[1] and w[1] ~= '' and w[2] and w[3]
for i = 0, (#KEYS - 2) / 4 - 1 do
  local k, a = 2 + 4 * i, 2 + 2 * i
  local mark = 'done'
  if window and ARGV[a + 2] ~= '' then
    local published = tonumber(ARGV[a + 2])
    if tonumber(w[2]) <= published and published < tonumber(w[3]) then
      mark = 'done:' .. w[1]
    end
  end
  redis.call('SET', KEYS[k + 3], mark, 'EX', ARGV[2])
  redis.call('DEL', KEYS[k + 4])
  handled({KEYS[1], KEYS[k + 1], KEYS[k + 2]}, {ARGV[1], ARGV[a + 1]})
end
return (#KEYS - 2) / 4
"""
)


def inbox_key(group: str, event_id: str) -> str:
    """``vbq:inbox:{group}:{event_id}``."""
    return f"vbq:inbox:{group}:{event_id}"


def rerun_key(group: str) -> str:
    """``vbq:inbox:{group}:rerun``: the group's current rerun window (a hash)."""
    return f"vbq:inbox:{group}:rerun"


@dataclass(frozen=True)
class RerunWindow:
    """Events published in ``[since_s, until_s)`` (epoch seconds) run again, once per ``id``."""

    id: str
    since_s: float
    until_s: float

    def covers(self, published_s: float | None) -> bool:
        """Whether a message published at ``published_s`` is inside the window."""
        return published_s is not None and self.since_s <= published_s < self.until_s


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


class ClaimStatus(enum.Enum):
    """Outcome of :meth:`Inbox.claim`."""

    CLAIMED = "claimed"
    """We hold the claim: run the handlers."""
    DONE = "done"
    """Handled before: ack without running."""
    BUSY = "busy"
    """Another live process is running it now."""


class Inbox:
    """Claims and completion marks for one subscriber group.

    Args:
        redis: a ``redis.Redis`` client (``decode_responses`` either way).
        group: the subscriber group (processes sharing one subscription share one group).
        ttl_s: how long a ``done`` mark is kept, in seconds.
        lease_s: lease of a claim in seconds; renew it with :meth:`renew` while running.
        owner: written into claims for debugging (default ``host:pid``).
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        group: str,
        ttl_s: int,
        lease_s: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self._redis = redis
        self.group = group
        self.ttl_s = ttl_s
        self.lease_ms = max(100, int(lease_s * 1000))
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._leases = Leases(redis)
        self._claim_many: Any = redis.register_script(_CLAIM_MANY)
        self._complete_many: Any = redis.register_script(_COMPLETE_MANY)
        # Claims and done marks of concurrent handler threads go to Redis as batches.
        self._claims: Coalescer[tuple[str, str], Claim] = Coalescer(self._claim_batch)
        self._dones: Coalescer[tuple[str, float | None], None] = Coalescer(self._complete_batch)

    def key(self, event_id: str) -> str:
        """The inbox key of ``event_id`` in this group."""
        return inbox_key(self.group, event_id)

    def new_token(self) -> str:
        """A claim token unique to this attempt."""
        return f"claim:{self._owner}:{uuid.uuid4().hex[:12]}"

    def claim(self, event_id: str, token: str, *, published_s: float | None = None) -> ClaimStatus:
        """Try to claim ``event_id`` with ``token`` (lease ``lease_s``).

        A ``done`` event whose message was published at ``published_s`` (epoch seconds) inside
        the group's rerun window is claimed again, once per window.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        key = self.key(event_id)
        claim = self._claims.call((key, token))  # one Lua call with concurrent claims
        if claim.held:
            return ClaimStatus.CLAIMED
        if not claim.value.startswith(_DONE):
            return ClaimStatus.BUSY
        window = self.rerun_window()
        if window is None or not window.covers(published_s) or claim.value == self._done(window):
            return ClaimStatus.DONE
        return ClaimStatus.CLAIMED if self._retake(key, claim.value, token) else ClaimStatus.BUSY

    def _retake(self, key: str, expected: str, token: str) -> bool:
        # Replace a done mark by our claim unless it changed meanwhile (WATCH/MULTI).
        with self._redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                current = pipe.get(key)
                if current is None or _text(current) != expected:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.set(key, token, px=self.lease_ms)
                pipe.execute()
                return True
            except redis_lib.WatchError:
                return False

    @staticmethod
    def _done(window: RerunWindow | None) -> str:
        return f"{_DONE}:{window.id}" if window is not None else _DONE

    def rerun_window(self) -> RerunWindow | None:
        """The group's rerun window, if any. Read every time (a duplicate or a completion costs
        one more round trip): a cached "no window" would let the first redeliveries of a replay
        be acknowledged without running.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        raw = {_text(k): _text(v) for k, v in self._redis.hgetall(rerun_key(self.group)).items()}
        if not raw.get("id"):
            return None
        return RerunWindow(raw["id"], float(raw["since_s"]), float(raw["until_s"]))

    def set_rerun(self, *, since_s: float, until_s: float) -> RerunWindow:
        """Open a rerun window (replacing any): events published in it run again, once.

        Kept ``ttl_s`` seconds. Raises: redis.RedisError.
        """
        window = RerunWindow(uuid.uuid4().hex[:12], since_s, until_s)
        key = rerun_key(self.group)
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={"id": window.id, "since_s": since_s, "until_s": until_s})
        pipe.expire(key, self.ttl_s)
        pipe.execute()
        return window

    def renew(self, claims: Iterable[tuple[str, str]]) -> int:
        """Extend the lease of each ``(event_id, token)`` still ours; returns how many were.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        leases = ((self.key(event_id), token) for event_id, token in claims)
        return self._leases.renew_many(leases, self.lease_ms / 1000)

    def complete(self, event_id: str, *, published_s: float | None = None) -> None:
        """Mark ``event_id`` done for ``ttl_s`` seconds and forget per-handler progress (the
        mark names the rerun window that covers ``published_s``, if one does), and count it
        for the console: one Lua call, shared with the done marks of other threads.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        self._dones.call((event_id, published_s))  # one Lua call with concurrent done marks

    def _claim_batch(self, items: list[tuple[str, str]]) -> list[Claim]:
        reply = self._claim_many(
            keys=[key for key, _ in items], args=[self.lease_ms, *(t for _, t in items)]
        )
        return [Claim(bool(int(reply[i])), _text(reply[i + 1])) for i in range(0, len(reply), 2)]

    def _complete_batch(self, items: list[tuple[str, float | None]]) -> list[None]:
        keys: list[str] = []
        args: list[str] = [self.group, str(self.ttl_s)]
        for event_id, published_s in items:
            key = self.key(event_id)
            stat_keys, stat_args = handled_keys(group=self.group, event_id=event_id)
            if not keys:
                keys = [stat_keys[0], rerun_key(self.group)]  # the counters hash, the window
            keys += [stat_keys[1], stat_keys[2], key, key + ":handlers"]
            args += [stat_args[1], "" if published_s is None else repr(float(published_s))]
        self._complete_many(keys=keys, args=args)
        return [None] * len(items)

    def release(self, event_id: str, token: str) -> None:
        """Drop our claim (after a handler failed) so a redelivery can run it at once.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        self._leases.release(self.key(event_id), token)

    def is_done(self, event_id: str) -> bool:
        """True when ``event_id`` was handled in this group (within ``ttl_s``)."""
        value = self._redis.get(self.key(event_id))
        return value is not None and _text(value).startswith(_DONE)

    def handlers_done(self, event_id: str) -> set[str]:
        """Names of the handlers that already finished ``event_id`` (partial progress)."""
        return {_text(m) for m in self._redis.smembers(self.key(event_id) + ":handlers")}

    def mark_handler_done(self, event_id: str, handler: str) -> None:
        """Record that ``handler`` finished ``event_id`` (kept ``ttl_s`` seconds)."""
        key = self.key(event_id) + ":handlers"
        pipe = self._redis.pipeline(transaction=True)
        pipe.sadd(key, handler)
        pipe.expire(key, self.ttl_s)
        pipe.execute()
