"""The dispatcher: turns queued submissions into ``vbq.submit`` messages, fairly and at the rate.

One dispatcher acts at a time (fenced lease ``vbq:sched:lock``); every ``vbq worker`` runs one
in a thread (:func:`start_dispatcher_thread`) and the others stand by. Per place, it repeats:

1. :func:`vbq.scheduler.fair.pick` the backlogged tenant with the smallest start tag whose
   ``max_in_flight`` cap allows it, and the head of its highest non-empty priority queue.
2. Take a create token (the global GCRA, :class:`vbq.quota.ratelimit.RateLimiter`); refused →
   sleep until the next token.
3. Take the submission's in-flight slot (short lease, :class:`vbq.quota.slots.Slots`); refused
   → this place waits (a slot frees when the poller sees a job finish).
4. Commit (one fenced Lua call): out of the queue, tag advanced, due mark, and a grant key
   ``vbq:sched:grant:{id}`` that lives ``rate_limit_margin_s``: the submit task that finds it
   uses this token instead of taking one (a stale grant is ignored, so the window holds).
5. Publish ``vbq.submit`` (batched per round).

A submission queued at several places is claimed in step 4 by the first place that gets this
far with it (:mod:`vbq.scheduler.placement`).

A crash between 4 and 5 leaves an ACCEPTED record with a due mark and no message: the sweeper
re-publishes it once the mark is overdue. Duplicates are harmless (the submit task's lock and
label reconcile).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import redis

from vbq.leases import HeldLease
from vbq.logs import get_logger
from vbq.quota.ratelimit import RateLimiter
from vbq.quota.slots import Slots
from vbq.scheduler.fair import next_tag, pick
from vbq.scheduler.keys import FENCE_KEY, LOCK_KEY
from vbq.scheduler.placement import PlacedCandidate, Placement
from vbq.scheduler.policy import TenantPolicy
from vbq.scheduler.queues import Candidate, SchedulerQueues
from vbq.settings import Settings

__all__ = ["Dispatcher", "start_dispatcher_thread"]

_log = get_logger("vbq.scheduler.dispatcher")

_IN_FLIGHT_STATES = (
    "SUBMITTING",
    "SUBMITTED",
    "QUEUED",
    "PENDING",
    "RUNNING",
    "CANCELLING",
    "PAUSED",
    "UPDATING",
)
_LEASE_S = 10.0
_RENEW_EVERY_S = 2.0
_IDLE_S = 0.1  # nothing queued: look again this often
_MAX_SLEEP_S = 0.5
_MAX_PER_ROUND = 200  # dispatches per place before the others get a turn
_RECENT_S = 5.0  # dispatches this recent count as in flight for the tenant caps


class Dispatcher:
    """Dispatches queued submissions (module docstring).

    Args:
        redis_client: the vbq Redis.
        settings: rates, slots, margins, tenant policy.
        publish: publishes one ``vbq.submit`` message per id (the broker's
            :meth:`vbq.broker.enqueue.Enqueuer.submit_many`).
        clock: monotonic seconds (tests pass a fake).
        max_per_round: dispatches per place and round before the other places get a turn.
    """

    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        settings: Settings,
        publish: Callable[[Sequence[str]], object],
        clock: Callable[[], float] = time.monotonic,
        max_per_round: int = _MAX_PER_ROUND,
    ) -> None:
        self.redis = redis_client
        self.max_per_round = max_per_round
        self.settings = settings
        self.publish = publish
        self.clock = clock
        self.policy: TenantPolicy = settings.tenant_policy()
        self.queues = SchedulerQueues(redis_client)
        self.placement = Placement(redis_client)
        self._placed: PlacedCandidate | None = None
        self.limiter = RateLimiter(redis_client, settings=settings)
        self.slots = Slots(redis_client, settings=settings)
        self.lease = HeldLease(
            redis=redis_client,
            key=LOCK_KEY,
            fence_key=FENCE_KEY,
            owner=f"{socket.gethostname()}:{os.getpid()}",
            ttl_s=_LEASE_S,
        )
        self._renewed_at = -1e9
        self._recent: dict[str, deque[float]] = {}
        self.dispatched = 0

    # -- loop ----------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Dispatch until ``stop`` is set; releases the lease on the way out."""
        try:
            while not stop.is_set():
                try:
                    wait_s = self.step()
                except redis.RedisError as exc:
                    _log.warning("dispatch.redis_error", error=str(exc))
                    self.lease.forget()
                    wait_s = 1.0
                except Exception as exc:  # the broker, a bug: keep the thread alive
                    _log.exception("dispatch.failed", error=repr(exc))
                    wait_s = 1.0
                stop.wait(wait_s)
        finally:
            try:
                self.lease.release()
            except redis.RedisError:
                self.lease.forget()

    def step(self) -> float:
        """Hold the lease and dispatch one round; seconds to wait before the next.

        Raises:
            redis.RedisError: Redis is unreachable.
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        now = self.clock()
        if not self.lease.held or now - self._renewed_at >= _RENEW_EVERY_S:
            held, changed = self.lease.acquire_or_renew()
            self._renewed_at = now
            if changed:
                _log.info("dispatch.lease", held=held, fence=self.lease.fence)
            if not held:
                return _RENEW_EVERY_S
        wait_s = _IDLE_S
        for project, location in self.queues.places():
            wait_s = min(wait_s, self.dispatch_place(project, location))
        return max(0.002, min(wait_s, _MAX_SLEEP_S))

    # -- one place -------------------------------------------------------------------------------

    def dispatch_place(self, project: str, location: str) -> float:
        """Dispatch what the rate and slots allow at one place; seconds until worth retrying.

        Raises:
            redis.RedisError: Redis is unreachable.
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        sent: list[str] = []
        wait_s = _IDLE_S
        try:
            for _ in range(self.max_per_round):
                candidate = self._candidate(project, location)
                if candidate is None:
                    break
                decision = self.limiter.try_acquire("create", project, location)
                if not decision.allowed:
                    wait_s = decision.retry_after_s
                    break
                if not self._take_slot(candidate, project, location):
                    wait_s = _MAX_SLEEP_S
                    break
                if self._commit(candidate, project, location):
                    sent.append(candidate.submission_id)
                    continue
                # Cancelled meanwhile, or our lease is gone: give the slot back at once.
                self.slots.release(candidate.submission_id, project, location, candidate.model)
                if not self.lease.held:
                    break
        finally:
            if sent:
                self.publish(sent)
                self.dispatched += len(sent)
        return wait_s

    def _candidate(self, project: str, location: str) -> Candidate | None:
        tags = self.queues.tenant_tags(project, location)
        skip: set[str] = set()
        while True:
            chosen = pick(tags, lambda t: t in skip or self._at_in_flight_cap(t))
            if chosen is None:
                return None
            tenant, tag = chosen
            head = self.queues.head(project, location, tenant)
            if head is not None:
                model = self.redis.hget(f"vbq:sub:{head[0]}", "model")
                return Candidate(
                    submission_id=head[0],
                    tenant=tenant,
                    priority=head[1],
                    start_tag=tag,
                    model=(model.decode() if isinstance(model, bytes) else model) or None,
                )
            self.queues.deactivate_if_empty(self.lease.value, project, location, tenant)
            skip.add(tenant)

    def _at_in_flight_cap(self, tenant: str) -> bool:
        cap = self.policy.limits(tenant).max_in_flight
        if cap <= 0:
            return False
        counts = self.redis.hmget(
            "vbq:count:tenant-state", [f"{tenant}:{s}" for s in _IN_FLIGHT_STATES]
        )
        in_flight = sum(int(c or 0) for c in counts)
        return in_flight + self._recent_count(tenant) >= cap

    def _recent_count(self, tenant: str) -> int:
        # Dispatched but maybe not yet SUBMITTING: counted for a few seconds (overlap with
        # SUBMITTING only makes the cap stricter for that long).
        times = self._recent.get(tenant)
        if not times:
            return 0
        horizon = self.clock() - _RECENT_S
        while times and times[0] < horizon:
            times.popleft()
        return len(times)

    def _take_slot(self, candidate: Candidate, project: str, location: str) -> bool:
        # The model as it would run here, and whether it may run elsewhere (placement).
        self._placed = self.placement.lookup(candidate.submission_id, location)
        lease_s = 2 * self.settings.http_timeout_s + 10.0  # the submit lock's lease
        answer = self.slots.try_take(
            candidate.submission_id, project, location, self._placed.model, lease_s
        )
        return bool(answer.allowed)

    def _commit(self, candidate: Candidate, project: str, location: str) -> bool:
        weight = self.policy.limits(candidate.tenant).weight
        placed, self._placed = self._placed, None
        commit_args: dict[str, Any] = {
            "project": project,
            "location": location,
            "new_tag": next_tag(candidate.start_tag, weight),
            "grant_ttl_ms": max(1, int(self.settings.rate_limit_margin_s * 1000)),
        }
        if placed is not None and placed.locations:  # several places: claim it for this one
            commit_args.update(locations=placed.locations, model=placed.model)
        result = self.queues.commit(self.lease.value, candidate, **commit_args)
        if result == -1:
            _log.warning("dispatch.lease_lost")
            self.lease.forget()
            return False
        if result == 1 and self.policy.limits(candidate.tenant).max_in_flight > 0:
            self._recent.setdefault(candidate.tenant, deque()).append(self.clock())
        return result == 1


def start_dispatcher_thread(settings: Settings, stop: threading.Event) -> threading.Thread:
    """Run a :class:`Dispatcher` for ``settings`` in a daemon thread until ``stop`` is set.

    Publishes on a Celery app of its own (:func:`vbq.broker.app.create_app`).
    """
    from vbq.broker.app import create_app
    from vbq.broker.enqueue import Enqueuer
    from vbq.redisconn import client_for

    client = client_for(settings, decode_responses=True)  # Sentinel URLs too
    enqueuer = Enqueuer(celery_app=create_app(settings), redis_client=client, settings=settings)
    dispatcher = Dispatcher(redis_client=client, settings=settings, publish=enqueuer.submit_many)
    thread = threading.Thread(
        target=dispatcher.run_forever, args=(stop,), name="vbq-dispatcher", daemon=True
    )
    thread.start()
    return thread
