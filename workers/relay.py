"""Outbox relay: moves job events from the Redis stream ``vbq:outbox`` to the Pub/Sub topic.

The job store appends one entry per state change to ``vbq:outbox`` in the same Lua call as the
change itself (docs/contracts.md § Outbox). The relay publishes those entries and deletes each
one only after Pub/Sub confirmed it (the publish future returned a message id), so:

- **nothing is lost**: an entry leaves the outbox only after Pub/Sub has it; a crash between the
  confirmation and the ``XDEL`` publishes it again, which is harmless because ``event_id`` is
  deterministic and subscribers dedupe on it;
- **a Pub/Sub outage stalls only the relay**: writers keep appending to the stream; publishes
  stay pending inside Google's client (with ordering on it retries transient errors without a
  deadline) and complete when Pub/Sub is back;
- **order per job is kept**: every event is published with ordering key = submission id. When a
  publish fails for good, Google's client pauses that key and fails its later messages; the relay
  calls ``resume`` once none of that key's messages are pending, skips the key for the rest of
  the round, backs off, and publishes again from the oldest remaining entry.

Events whose type is not in ``Settings.event_types`` (when that list is non-empty) are deleted
from the outbox without being published (counted as ``dropped``). An entry that is not a valid
event (a bug upstream) is published to the dead-letter topic with attribute ``vbq_error`` and
then deleted, so it is neither lost nor retried forever.

One relay publishes at a time: a lease lock ``vbq:relay:lock`` (TTL ``lock_ttl_s``, renewed
every round) holds ``{fencing token}:{owner}``; the token comes from ``INCR vbq:relay:fence``.
Every ``XDEL`` runs in a Lua script that first checks the lock still holds our value, so a relay
that lost its lease (paused process, network split) can publish a duplicate but never delete.

Parts: the stream (:mod:`vbq.workers.outbox_reader`), the publishes in flight and per-key order
(:mod:`vbq.workers.publish_window`), counters (:mod:`vbq.workers.relay_stats`), the lease
(:class:`vbq.leases.HeldLease`). Use :meth:`OutboxRelay.run_forever` (overlapped rounds) in its
own process (``vbq relay``) or a thread (:meth:`OutboxRelay.start_thread`, e.g. inside beat),
or call :meth:`OutboxRelay.drain_once` (one round that waits for its confirmations).
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis as redis_lib

from vbq.events import JobEvent
from vbq.leases import HeldLease
from vbq.logs import get_logger
from vbq.redisconn import client_for
from vbq.settings import Settings
from vbq.stats import record_published
from vbq.workers.outbox_reader import (
    OUTBOX_KEY,
    OutboxEntry,
    dead_letter_message,
    outbox_backlog,
    read_entries,
)
from vbq.workers.publish_window import PublishWindow
from vbq.workers.pubsub_batched import BatchedPublisher
from vbq.workers.pubsub_publisher import EventPublisher
from vbq.workers.relay_stats import RelayCounters, RelayStats

__all__ = [
    "FENCE_KEY",
    "LOCK_KEY",
    "OUTBOX_KEY",
    "OutboxRelay",
    "RelayStats",
    "run_relay",
]

LOCK_KEY = "vbq:relay:lock"
FENCE_KEY = "vbq:relay:fence"

_log = get_logger("vbq.relay")


class OutboxRelay:
    """Publishes ``vbq:outbox`` entries to Pub/Sub, in order per submission, without loss.

    Args:
        redis: a ``redis.Redis`` client (``decode_responses`` either way); its
            ``socket_timeout`` must be None or above ``idle_wait_s``.
        publisher: where events go (:class:`~vbq.workers.pubsub_batched.BatchedPublisher`).
            The caller owns it (the relay does not close it).
        settings: topic paths and the ``event_types`` filter.
        batch_size: outbox entries read per round.
        max_in_flight: unconfirmed publishes at most (bounds memory during an outage).
        lock_ttl_s: lease of ``vbq:relay:lock`` in seconds; renewed every round and while
            waiting, so a dead relay is replaced after at most this long.
        idle_wait_s: how long an idle round blocks on the stream for new entries, in seconds.
        backoff_base_s: first pause after a failed round, in seconds (doubles, full jitter).
        backoff_max_s: longest pause after failed rounds, in seconds.
        owner: name written into the lock (default ``host:pid:random``).
        encode: the message data of an event (default :meth:`JobEvent.to_bytes`;
            :meth:`from_settings` follows the topic's schema, see
            :class:`vbq.pubsub.event_schema.TopicEncoding`).
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        publisher: EventPublisher,
        settings: Settings,
        batch_size: int = 500,
        max_in_flight: int = 2000,
        lock_ttl_s: float = 10.0,
        idle_wait_s: float = 0.5,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        owner: str | None = None,
        encode: Callable[[JobEvent], bytes] = JobEvent.to_bytes,
    ) -> None:
        self._redis = redis
        self._encode = encode
        self._publisher = publisher
        self._topic = settings.events_topic_path()
        self._dead_letter_topic = settings.dead_letter_topic_path()
        self._event_types = frozenset(settings.event_types)
        self._batch_size = batch_size
        self._max_in_flight = max_in_flight
        self._idle_wait_s = idle_wait_s
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock = HeldLease(
            redis=redis, key=LOCK_KEY, fence_key=FENCE_KEY, owner=self._owner, ttl_s=lock_ttl_s
        )
        self._window = PublishWindow(publisher, self._topic)
        self._renew_at = 0.0  # monotonic time the lease is next renewed by _pump
        self._cursor: str | None = None  # last stream id read; None = from the start
        self._last_read_full = False
        self._round_failed = False
        self._mutex = threading.Lock()
        self._counters = RelayCounters()
        self._owned: list[Callable[[], Any]] = []  # closers of clients built by from_settings

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> OutboxRelay:
        """A relay with its own Redis client and :class:`BatchedPublisher` built from settings."""
        from vbq.pubsub.event_schema import TopicEncoding

        client = client_for(settings, health_check_interval=30)
        publisher = BatchedPublisher.from_settings(settings)
        encoding = TopicEncoding(settings)
        kwargs.setdefault("encode", encoding.encode)
        relay = cls(redis=client, publisher=publisher, settings=settings, **kwargs)
        relay._owned = [publisher.close, client.close, encoding.close]
        return relay

    def close(self) -> None:
        """Close the Pub/Sub publisher and Redis client if :meth:`from_settings` built them."""
        for closer in self._owned:
            try:
                closer()
            except Exception as exc:
                _log.warning("relay.close_error", error=str(exc))
        self._owned = []

    # -- public ---------------------------------------------------------------------------------

    @property
    def holds_lock(self) -> bool:
        """True when this relay held the lease at its last round."""
        return self._lock.held

    def drain_once(self, *, wait_s: float = 10.0) -> int:
        """One round: read new entries, publish them, wait for confirmations, delete confirmed.

        Args:
            wait_s: how long to wait for pending publishes to be confirmed, in seconds (the
                lock is renewed while waiting). Unconfirmed ones stay pending for the next round.

        Returns:
            How many events were confirmed and removed from the outbox in this round (0 when
            another relay holds the lock).

        Raises:
            redis.RedisError: Redis could not be reached (nothing was deleted).
        """
        with self._mutex:
            self._round_failed = False
            if not self._renew_lock():
                return 0
            self._read_and_publish()
            self._wait(wait_s)
            return self._harvest()

    def _pump(self, *, wait_s: float) -> int:
        """One overlapped round (see :meth:`run_forever`): renew the lease when due, read and
        publish what fits in the window, wait (for the first confirmation, at most ``wait_s``)
        only when nothing more can be published now, delete what was confirmed. Returns the
        events deleted; raises ``redis.RedisError`` (nothing was deleted)."""
        with self._mutex:
            self._round_failed = False
            if not self._renew_lock_when_due():
                return 0
            self._read_and_publish()
            more_now = self._last_read_full and len(self._window) < self._max_in_flight
            if self._window and not more_now:
                self._window.wait_first(wait_s)
            return self._harvest()

    def run_forever(self, stop_event: threading.Event) -> None:
        """Relay until ``stop_event`` is set, then settle pending publishes and release the lock.

        Rounds overlap: the next entries are published while earlier confirmations are pending
        (up to ``max_in_flight``); confirmed ones are deleted as soon as they are. Redis or
        Pub/Sub errors never end the loop: the round is retried with backoff."""
        backoff_s = self._backoff_base_s
        _log.info("relay.started", owner=self._owner, topic=self._topic)
        try:
            while not stop_event.is_set():
                try:
                    published = self._pump(wait_s=self._idle_wait_s)
                except Exception as exc:
                    # Redis down, or a bug: the relay thread must outlive it and retry.
                    _log.warning(
                        "relay.round_failed",
                        error=f"{type(exc).__name__}: {exc}",
                        exc_info=not isinstance(exc, redis_lib.RedisError),
                    )
                    self._forget()
                    stop_event.wait(random.uniform(0, backoff_s))
                    backoff_s = min(backoff_s * 2, self._backoff_max_s)
                    continue
                if self._round_failed:
                    stop_event.wait(random.uniform(backoff_s / 2, backoff_s))
                    backoff_s = min(backoff_s * 2, self._backoff_max_s)
                    continue
                backoff_s = self._backoff_base_s
                if not self.holds_lock:
                    # Standby: another relay is active; try again within a lease.
                    stop_event.wait(self._lock.ttl_ms / 3000)
                elif published == 0 and not self._window and not self._last_read_full:
                    self._wait_for_entries()
        finally:
            self._shutdown()
            _log.info("relay.stopped", owner=self._owner, **self._counters.snapshot())

    def start_thread(self, stop_event: threading.Event) -> threading.Thread:
        """Run :meth:`run_forever` in a daemon thread (e.g. inside beat); returns the thread."""
        thread = threading.Thread(
            target=self.run_forever, args=(stop_event,), name="vbq-outbox-relay", daemon=True
        )
        thread.start()
        return thread

    def stats(self) -> RelayStats:
        """Counters plus the outbox depth and the oldest entry's age (two Redis reads).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        depth, age_s = outbox_backlog(self._redis)
        return RelayStats(
            **self._counters.snapshot(),  # published, failed, dropped, dead_lettered
            in_flight=len(self._window),
            outbox_depth=depth,
            oldest_entry_age_s=age_s,
            holds_lock=self.holds_lock,
        )

    # -- lock -----------------------------------------------------------------------------------

    def _renew_lock_when_due(self) -> bool:
        # Every third of the TTL, not every round: deletes are fenced server-side, so a lease
        # lost in between can cost a duplicate publish, never a delete.
        if self._lock.held and time.monotonic() < self._renew_at:
            return True
        return self._renew_lock()

    def _renew_lock(self) -> bool:
        self._renew_at = time.monotonic() + self._lock.ttl_ms / 3000
        held, changed = self._lock.acquire_or_renew()
        if changed:
            if held:
                _log.info("relay.lock_acquired", owner=self._owner, fence=self._lock.fence)
            else:
                _log.warning("relay.lock_lost", owner=self._owner)
            # Whatever we tracked under an older lease is re-read from the stream.
            self._forget()
        return held

    def _forget(self) -> None:
        self._window.clear()
        self._cursor = None

    def _xdel(self, ids: Sequence[str]) -> int:
        deleted = self._lock.fenced_xdel(OUTBOX_KEY, ids)
        if deleted is None:
            _log.warning("relay.lock_lost_before_delete", owner=self._owner, entries=len(ids))
            self._forget()
            return 0
        return deleted

    # -- rounds ---------------------------------------------------------------------------------

    def _read_and_publish(self) -> None:
        room = self._max_in_flight - len(self._window)
        if room <= 0:
            self._last_read_full = False
            return
        count = min(self._batch_size, room)
        entries = read_entries(self._redis, self._cursor, count)
        self._last_read_full = len(entries) >= count
        to_drop: list[str] = []
        for entry in entries:
            entry_id = entry.entry_id
            self._cursor = entry_id
            if entry_id in self._window:
                continue
            event = entry.event
            if event is None:
                self._dead_letter(entry)
                continue
            if self._event_types and event.type not in self._event_types:
                to_drop.append(entry_id)
                continue
            key = event.ordering_key
            if self._window.paused(key):
                continue
            self._window.publish(
                entry_id,
                self._topic,
                self._encode(event),
                attributes=event.attributes(),
                ordering_key=key,
            )
        if to_drop:
            n = self._xdel(to_drop)
            self._counters.add(dropped=n)

    def _dead_letter(self, entry: OutboxEntry) -> None:
        _log.error("relay.malformed_entry", entry_id=entry.entry_id, error=entry.error)
        data, attributes = dead_letter_message(entry)
        self._window.publish(
            entry.entry_id,
            self._dead_letter_topic,
            data,
            attributes=attributes,
            ordering_key="",
            dead_letter=True,
        )

    def _wait(self, wait_s: float) -> None:
        slice_s = max(0.05, self._lock.ttl_ms / 3000)
        self._window.wait_settled(wait_s, slice_s=slice_s, between=self._renew_lock)

    def _harvest(self) -> int:
        settled = self._window.harvest()
        if settled.failed:
            self._round_failed = True
        if settled.reread:
            self._cursor = None  # re-read from the oldest remaining entry
        deletable = settled.confirmed + settled.dead
        done = self._xdel(deletable) if deletable else 0
        n_dead = min(len(settled.dead), done)
        self._counters.add(published=done - n_dead, failed=settled.failures, dead_lettered=n_dead)
        record_published(self._redis, done - n_dead)  # console: deployment-wide count
        return done - n_dead

    def _wait_for_entries(self) -> None:
        # Block on the stream for entries after the last one read (or any when none was).
        try:
            self._redis.xread(
                {OUTBOX_KEY: self._cursor or "0-0"}, count=1, block=int(self._idle_wait_s * 1000)
            )
        except redis_lib.TimeoutError:
            pass
        except redis_lib.RedisError as exc:
            # Redis went away while we idled (restart, failover). Return to the loop: its next
            # round reconnects or backs off. Raising here would end the relay for good (inside
            # ``vbq beat`` nothing would be published again until beat restarts).
            _log.warning("relay.wait_failed", error=str(exc))

    def _shutdown(self) -> None:
        with self._mutex:
            try:
                if self._window and self._lock.held:
                    self._wait(5.0)
                    self._harvest()
                self._lock.release()
            except redis_lib.RedisError as exc:
                _log.warning("relay.shutdown_redis_error", error=str(exc))
                self._lock.forget()


def run_relay(settings: Settings, stop_event: threading.Event, **kwargs: Any) -> None:
    """Build a relay from ``settings`` and run it until ``stop_event`` is set (``vbq relay``)."""
    relay = OutboxRelay.from_settings(settings, **kwargs)
    try:
        relay.run_forever(stop_event)
    finally:
        relay.close()
