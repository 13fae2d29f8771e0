"""Find submissions whose submit message was lost and enqueue them again (``vbq.sweep``).

How a submit message can vanish, and how long it takes to notice:

* The dispatcher died (or the broker refused) between taking a submission out of its
  scheduler queue and publishing. Every dispatch and every publish leaves a due mark in the
  zset ``vbq:submit:due`` (member = submission id, score = epoch seconds when the message
  should run), so that case is an overdue mark (below). A queued submission has no mark and
  is not lost (it waits in its queue, see :mod:`vbq.scheduler`); an ACCEPTED record older
  than ``accepted_age_s`` (60 s) with no mark and no ``qseq`` field was never queued (stored
  before the scheduler existed) and is published.
* A worker holding the message (running, prefetched or delayed by a countdown) was killed. The
  broker gives it back by itself (AMQP at once, Redis after the visibility timeout), so a mark
  is only suspicious once it is more than ``visibility_timeout_s + grace_s`` in the past.

A message waiting in a long broker queue is *not* lost, which is why a mark is trusted for a
whole visibility timeout: re-enqueueing everything behind a backlog would double the backlog.
SUBMITTING records are handled the same way, once also not updated for the visibility timeout.
Enqueueing too often is harmless: the submit task is idempotent and serialised per submission.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from vbq.broker.due import DUE_KEY, DueIndex
from vbq.logs import get_logger
from vbq.settings import Settings
from vbq.states import SubmissionState

__all__ = ["DUE_KEY", "DueIndex", "SweepReport", "Sweeper"]

_MAX_SCAN_PAGES = 50  # pages of `batch` ids one sweep looks through for unpublished ones


_log = get_logger("vbq.workers.sweeper")
# Marks this much older than their due time belong to long-finished work: drop them.
_FORGET_AFTER_S = 7 * 24 * 3600


@dataclass(frozen=True)
class SweepReport:
    """What one sweep re-enqueued.

    Attributes:
        accepted: ACCEPTED submission ids enqueued again.
        submitting: SUBMITTING submission ids enqueued again.
    """

    accepted: tuple[str, ...] = ()
    submitting: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """How many submissions were enqueued again."""
        return len(self.accepted) + len(self.submitting)


class Sweeper:
    """Re-enqueues stale ACCEPTED and SUBMITTING submissions.

    Args:
        redis_client: the vbq Redis (reads the state indexes and records directly).
        settings: ``visibility_timeout_s`` bounds how long a SUBMITTING record may sit still.
        enqueue: publishes one submit message per id (``vbq.workers.tasks.enqueue_submit_many``).
        accepted_age_s: an unmarked ACCEPTED record younger than this (seconds) may still be
            being published, and is left alone.
        grace_s: a due mark counts as pending until ``visibility_timeout_s + grace_s`` seconds
            past its due time.
        batch: most records looked at per state and sweep.
        clock: epoch seconds (tests pass a fake).
    """

    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        settings: Settings,
        enqueue: Callable[[list[str]], object],
        accepted_age_s: float = 60.0,
        grace_s: float = 60.0,
        batch: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis_client
        self.settings = settings
        self.enqueue = enqueue
        self.accepted_age_s = accepted_age_s
        self.grace_s = grace_s
        self.batch = batch
        self.clock = clock
        self.due = DueIndex(redis_client)

    def sweep(self) -> SweepReport:
        """Run one sweep.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        now = self.clock()
        accepted = self._stale_accepted(now)
        submitting = self._stale_submitting(now)
        stale = [*accepted, *submitting]
        if stale:
            self.enqueue(stale)  # marks them as due now once published
            _log.warning("sweep.reenqueued", accepted=len(accepted), submitting=len(submitting))
        self.redis.zremrangebyscore(DUE_KEY, "-inf", now - _FORGET_AFTER_S)
        return SweepReport(accepted=tuple(accepted), submitting=tuple(submitting))

    def _candidates(self, state: SubmissionState, created_before: float) -> list[str]:
        raw = self.redis.zrangebyscore(
            f"vbq:idx:state:{state.value}", "-inf", created_before, start=0, num=self.batch
        )
        return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]

    def _overdue(self, ids: list[str], now: float) -> list[str]:
        limit = now - self.settings.visibility_timeout_s - self.grace_s
        return [
            sid
            for sid, due in zip(ids, self.due.due_at(ids), strict=True)
            if due is None or due < limit
        ]

    def _stale_accepted(self, now: float) -> list[str]:
        # Page through the oldest ACCEPTED records: most are waiting in their scheduler queue
        # (no mark) or were dispatched (a recent mark); a lost message must not wait behind
        # them all.
        key = f"vbq:idx:state:{SubmissionState.ACCEPTED.value}"
        limit = now - self.settings.visibility_timeout_s - self.grace_s
        found: list[str] = []
        probes = self.batch  # record reads per sweep for unmarked ids: bounded, whatever the queue
        for page in range(_MAX_SCAN_PAGES):
            raw = self.redis.zrangebyscore(
                key, "-inf", now - self.accepted_age_s, start=page * self.batch, num=self.batch
            )
            ids = [r.decode() if isinstance(r, bytes) else str(r) for r in raw]
            dues = self.due.due_at(ids)
            found += [s for s, d in zip(ids, dues, strict=True) if d is not None and d < limit]
            # Unmarked and never queued (stored before the scheduler, or by a writer that
            # bypassed create.lua): publish. Unmarked ids are mostly queued ones, so only
            # `batch` of them are read per sweep (the oldest, where such records sort).
            unmarked = [s for s, d in zip(ids, dues, strict=True) if d is None][:probes]
            probes -= len(unmarked)
            found += self._never_queued(unmarked)
            if len(found) >= self.batch or len(ids) < self.batch:
                break
        return found[: self.batch]

    def _never_queued(self, ids: list[str]) -> list[str]:
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for sid in ids:
            pipe.hexists(f"vbq:sub:{sid}", "qseq")
        return [sid for sid, queued in zip(ids, pipe.execute(), strict=True) if not queued]

    def _stale_submitting(self, now: float) -> list[str]:
        quiet_s = float(self.settings.visibility_timeout_s)
        ids = self._candidates(SubmissionState.SUBMITTING, now - quiet_s)
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for sid in ids:
            pipe.hget(f"vbq:sub:{sid}", "updated_at")
        updated = pipe.execute()
        quiet = [
            sid
            for sid, upd in zip(ids, updated, strict=True)
            if upd is not None and float(upd) < now - quiet_s
        ]
        return self._overdue(quiet, now)
