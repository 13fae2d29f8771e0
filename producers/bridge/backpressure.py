"""Backpressure: stop taking new requests while the workers cannot keep up.

The bridge pauses when the in-flight cap is full **and** the submit backlog is above
``max_backlog``. Both are measured at one instant, and jobs finishing free slots all the time
(a worker takes a freed slot within milliseconds), so "full" is read as "would be full":

    waiting = backlog - free slots            (free = max_in_flight - in use, at least 0)
    pause while waiting > max_backlog

that is, the requests that would still wait after every free slot was taken. With the cap
full this is exactly ``backlog > max_backlog``; with free slots the bridge may run ahead by as
many requests as there are free slots (they start at once), never more.

- In use: ``Slots.in_use(project, location)`` (default project and location of the settings).
- Backlog: the larger of the ``vbq.submit`` queue length on the broker and the number of
  ACCEPTED submissions in the store. Why both: while the cap is full, a submit task
  re-publishes itself with a countdown, and Celery holds countdown messages inside the worker,
  not in the queue, so the queue alone can look empty while hundreds of requests wait; ACCEPTED
  counts them, the queue length counts messages for records not yet picked up.

It resumes when ``waiting`` fell to ``resume_backlog`` (default: half of ``max_backlog``; the
gap keeps it from flapping on every submission). While paused the bridge stops processing and
so stops acking: Pub/Sub's flow control then stops delivering once ``max_outstanding`` messages
are leased (see :mod:`vbq.producers.bridge.consumer`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis as redis_lib

from vbq.logs import get_logger
from vbq.redisconn import SENTINEL_SCHEME, connect
from vbq.settings import Settings
from vbq.store.keys import state_index_key

__all__ = ["Backpressure", "Pressure", "StoreBacklog", "should_pause"]

_log = get_logger("vbq.bridge.backpressure")

SUBMIT_QUEUE = "vbq.submit"


@dataclass(frozen=True, kw_only=True)
class Pressure:
    """One measurement.

    Attributes:
        in_use: in-flight slots taken in (project, location).
        backlog: submissions waiting to be submitted (see the module docstring).
        paused: the decision after this measurement.
    """

    in_use: int
    backlog: int
    paused: bool


def should_pause(
    *,
    in_use: int,
    max_in_flight: int,
    backlog: int,
    max_backlog: int,
    resume_backlog: int,
    paused: bool,
) -> bool:
    """The pause decision (pure): what would still wait once every free slot is taken,
    ``backlog - max(0, max_in_flight - in_use)``, is above ``max_backlog``; with hysteresis,
    a pause lasts until that is down to ``resume_backlog``."""
    waiting = backlog - max(0, max_in_flight - in_use)
    return waiting > (resume_backlog if paused else max_backlog)


class StoreBacklog:
    """Measures ``(slots in use, submit backlog)`` from the vbq Redis and the broker.

    Args:
        redis: the vbq Redis (slots and the ACCEPTED index).
        settings: ``project``/``location`` of the slot pool, ``broker_url``.
        project: slot pool's project (default ``settings.project``).
        location: slot pool's location (default ``settings.location``).
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        settings: Settings,
        project: str | None = None,
        location: str | None = None,
    ) -> None:
        from vbq.quota.slots import Slots

        self._redis = redis
        self._slots = Slots(redis, settings=settings)
        self.project = project or settings.project
        self.location = location or settings.location
        self._settings = settings
        self._broker_url = settings.broker_url or settings.redis_url
        self._broker: Any = None

    def __call__(self) -> tuple[int, int]:
        """``(in_use, backlog)``.

        Raises:
            redis.RedisError: Redis or a Redis broker is unreachable.
            kombu.exceptions.OperationalError: another broker is unreachable.
        """
        in_use = self._slots.in_use(self.project, self.location)
        accepted = int(self._redis.zcard(state_index_key("ACCEPTED")))
        return in_use, max(accepted, self._queue_length())

    def _queue_length(self) -> int:
        scheme = urlsplit(self._broker_url).scheme
        if scheme in {"redis", "rediss", "unix", SENTINEL_SCHEME}:
            if self._broker is None:
                self._broker = connect(
                    self._broker_url, failover_timeout_s=self._settings.redis_failover_timeout_s
                )
            # kombu's Redis transport keeps a queue as a list under the queue's name.
            return int(self._broker.llen(SUBMIT_QUEUE))
        from kombu import Connection

        if self._broker is None:
            self._broker = Connection(self._broker_url)
        declared = self._broker.default_channel.queue_declare(queue=SUBMIT_QUEUE, passive=True)
        return int(declared.message_count)

    def close(self) -> None:
        """Close the broker connection (the vbq Redis client belongs to the caller)."""
        if self._broker is not None:
            self._broker.close()
            self._broker = None


class Backpressure:
    """Tracks whether the bridge should pause; :meth:`run` re-measures every interval.

    Args:
        measure: returns ``(slots in use, submit backlog)`` (see :class:`StoreBacklog`).
        max_in_flight: the in-flight cap (``Settings.max_in_flight``).
        max_backlog: pause above this many waiting submissions (with a full cap).
        resume_backlog: resume at or below this (default ``max_backlog // 2``).
        check_interval_s: seconds between measurements.
    """

    def __init__(
        self,
        *,
        measure: Callable[[], tuple[int, int]],
        max_in_flight: int,
        max_backlog: int,
        resume_backlog: int | None = None,
        check_interval_s: float = 0.25,
    ) -> None:
        if max_backlog < 0:
            raise ValueError(f"max_backlog must be >= 0, got {max_backlog}")
        self._measure = measure
        self.max_in_flight = max_in_flight
        self.max_backlog = max_backlog
        self.resume_backlog = max_backlog // 2 if resume_backlog is None else resume_backlog
        self.check_interval_s = check_interval_s
        self._paused = threading.Event()
        self._lock = threading.Lock()
        self._paused_since: float | None = None
        self._paused_total_s = 0.0
        self.pauses = 0
        self.last: Pressure | None = None

    @property
    def paused(self) -> bool:
        """Whether new work should wait (as of the last measurement)."""
        return self._paused.is_set()

    def paused_for_s(self) -> float:
        """Seconds the current pause has lasted (0 when not paused)."""
        with self._lock:
            since = self._paused_since
        return 0.0 if since is None else time.monotonic() - since

    def paused_total_s(self) -> float:
        """Seconds spent paused since creation, including the current pause."""
        with self._lock:
            return self._paused_total_s + (
                0.0 if self._paused_since is None else time.monotonic() - self._paused_since
            )

    def update(self) -> Pressure:
        """Measure once and update the decision.

        Raises:
            redis.RedisError / kombu errors: the measurement failed (the decision is kept).
        """
        in_use, backlog = self._measure()
        pause = should_pause(
            in_use=in_use,
            max_in_flight=self.max_in_flight,
            backlog=backlog,
            max_backlog=self.max_backlog,
            resume_backlog=self.resume_backlog,
            paused=self.paused,
        )
        now = time.monotonic()
        with self._lock:
            if pause and self._paused_since is None:
                self._paused_since = now
                self.pauses += 1
                self._paused.set()
                _log.info("bridge.paused", in_use=in_use, backlog=backlog)
            elif not pause and self._paused_since is not None:
                self._paused_total_s += now - self._paused_since
                self._paused_since = None
                self._paused.clear()
                _log.info("bridge.resumed", in_use=in_use, backlog=backlog)
            self.last = Pressure(in_use=in_use, backlog=backlog, paused=pause)
            return self.last

    def run(self, stop_event: threading.Event) -> None:
        """Measure every ``check_interval_s`` until ``stop_event`` is set. A failed
        measurement keeps the last decision (a Redis outage also stops submissions)."""
        while not stop_event.is_set():
            try:
                self.update()
            except Exception as exc:
                _log.warning("bridge.backpressure_check_failed", error=repr(exc))
            stop_event.wait(self.check_interval_s)
