"""Cancel a submission: the logic behind the ``vbq.cancel`` task (Celery-free).

* ACCEPTED → CANCELLED by compare-and-set, with no Vertex call.
* SUBMITTING: a submit attempt may be about to create (or creating) the job, so the cancel sets
  the flag ``vbq:cancel:{id}`` *first* and the submit path checks it right before its create
  and again right after it. Flag-then-read here against create-then-check there means at least
  one side sees the other: either nothing is created (→ CANCELLED) or the new job is cancelled
  on Vertex. The cancel task also re-enqueues the submission so a stalled one sees the flag soon.
* SUBMITTED and later (unfinished): cancel on Vertex (a read-bucket token); the poller mirrors
  ``CANCELLING`` / ``CANCELLED`` into the record.
* Finished: nothing to do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

import redis

from vbq.errors import NotFoundError, StateConflictError, VertexError
from vbq.events import JobEvent
from vbq.logs import bind_job, get_logger
from vbq.settings import Settings
from vbq.states import SubmissionState
from vbq.workers.ports import Limiter, Store, Vertex
from vbq.workers.retry import backoff_s, capped

__all__ = [
    "CANCEL_FLAG_TTL_S",
    "CancelOutcome",
    "Canceller",
    "cancel_flag_key",
    "cancel_requested",
    "request_cancel",
]

CANCEL_FLAG_TTL_S = 7 * 24 * 3600
"""How long a cancel request is remembered, in seconds (far beyond any submit retry)."""

_log = get_logger("vbq.workers.cancel")
_S = SubmissionState


def cancel_flag_key(submission_id: str) -> str:
    """Redis key of the cancel request flag of ``submission_id``."""
    return f"vbq:cancel:{submission_id}"


def request_cancel(redis_client: redis.Redis, submission_id: str) -> None:
    """Record that the user asked to cancel ``submission_id``.

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    redis_client.set(cancel_flag_key(submission_id), "1", ex=CANCEL_FLAG_TTL_S)


def cancel_requested(redis_client: redis.Redis, submission_id: str) -> bool:
    """True when a cancel of ``submission_id`` was requested.

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    return bool(redis_client.exists(cancel_flag_key(submission_id)))


@dataclass(frozen=True, kw_only=True)
class CancelOutcome:
    """What one cancel attempt did.

    Attributes:
        action: ``cancelled`` (before submission, no Vertex call), ``requested`` (flag set for
            the submit path), ``vertex_cancel`` (cancel sent to Vertex), ``noop``, ``retry``.
        countdown_s: for ``retry``, seconds until the next attempt.
        reason: why.
    """

    action: Literal["cancelled", "requested", "vertex_cancel", "noop", "retry"]
    countdown_s: float = 0.0
    reason: str = ""

    @property
    def final(self) -> bool:
        """True when no further attempt is needed."""
        return self.action != "retry"


class Canceller:
    """Cancels submissions in whatever state they are.

    Args:
        store: the job store.
        vertex: the Vertex REST client.
        limiter: the global rate limiter (a cancel takes a ``read`` token: it is a
            resource-management call, not a job submission).
        redis_client: Redis for the cancel flag.
        settings: backoff and the visibility timeout.
        rng: randomness for jitter.
    """

    def __init__(
        self,
        *,
        store: Store,
        vertex: Vertex,
        limiter: Limiter,
        redis_client: redis.Redis,
        settings: Settings,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.vertex = vertex
        self.limiter = limiter
        self.redis = redis_client
        self.settings = settings
        self.rng = rng or random.Random()

    def run(self, submission_id: str, *, attempt: int = 0) -> CancelOutcome:
        """Make one attempt to cancel ``submission_id``.

        Raises:
            redis.RedisError: the store is unreachable (the caller retries the message).
        """
        with bind_job(submission_id):
            try:
                rec = self.store.get(submission_id)
            except NotFoundError:
                return CancelOutcome(action="noop", reason="not_found")
            if rec.state.finished:
                return CancelOutcome(action="noop", reason=f"state {rec.state}")
            # The flag goes first: see the module docstring for why this order is safe.
            request_cancel(self.redis, submission_id)
            if rec.state == _S.ACCEPTED:
                try:
                    self.store.transition(
                        submission_id,
                        expected={_S.ACCEPTED},
                        new_state=_S.CANCELLED,
                        updates={},
                        event=_cancelled_event(rec),
                    )
                    _log.info("cancel.cancelled_before_submission")
                    return CancelOutcome(action="cancelled")
                except StateConflictError:
                    rec = self.store.get(submission_id)
            if rec.state in (_S.ACCEPTED, _S.SUBMITTING):
                return CancelOutcome(action="requested", reason="submit in progress")
            if rec.state.finished or rec.state == _S.CANCELLING or not rec.job_name:
                return CancelOutcome(action="noop", reason=f"state {rec.state}")
            return self._cancel_on_vertex(rec, attempt)

    def _cancel_on_vertex(self, rec: Any, attempt: int) -> CancelOutcome:
        project, location = rec.project, rec.location
        decision = self.limiter.try_acquire("read", project, location)
        if not decision.allowed:
            wait = decision.retry_after_s + self.rng.uniform(0.0, 1.0)
            return CancelOutcome(
                action="retry", countdown_s=capped(self.settings, wait), reason="rate_limited"
            )
        try:
            self.vertex.cancel_batch_prediction_job(rec.job_name)
        except VertexError as exc:
            if not exc.retryable:
                # Typically FAILED_PRECONDITION: the job finished or is already cancelling.
                # The poller mirrors whatever state the job ends in.
                _log.warning("cancel.vertex_refused", job_name=rec.job_name, error=str(exc))
                return CancelOutcome(action="noop", reason=str(exc))
            wait = backoff_s(self.settings, attempt, exc, rng=self.rng)
            return CancelOutcome(action="retry", countdown_s=wait, reason=str(exc))
        _log.info("cancel.sent_to_vertex", job_name=rec.job_name)
        return CancelOutcome(action="vertex_cancel")


def _cancelled_event(rec: Any) -> JobEvent:
    return JobEvent.create(
        type="job.cancelled",
        submission_id=rec.id,
        state=_S.CANCELLED.value,
        previous_state=str(rec.state),
        job=None,
        tenant=rec.tenant,
        location=rec.location,
        priority=rec.priority,
        labels=dict(rec.labels or {}),
        metadata=dict(rec.metadata or {}),
    )
