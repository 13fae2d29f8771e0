"""Submit one submission to Vertex AI, exactly once: the logic behind the ``vbq.submit`` task.

Celery-free: :meth:`Submitter.run` does one attempt and returns an :class:`Outcome` that says
whether to run again later (and when). The task in :mod:`vbq.workers.tasks` only turns a ``retry``
outcome into a re-scheduled message, so no worker thread ever sleeps.

One attempt, in order:

1. Load the record. Anything but ACCEPTED or SUBMITTING is a no-op (a redelivered message).
2. Take the per-submission lock (``vbq:lock:submit:{id}``), so that two copies of the message
   (a redelivery racing a sweeper re-enqueue) never both create.
3. **Reconcile** when the record says SUBMITTING: a create may have reached Google without an
   answer (a timeout, a killed worker), so list by label ``vbq-submission=<id>`` first (a read
   token) and adopt a job found instead of creating another. Skipped only when the last create
   certainly created nothing (``vbq:submit:unsent:{id}``, set after a 429/503/connect error,
   deleted before every create).
4. Honour a cancel request (``vbq:cancel:{id}``) before anything is sent.
5. In-flight slot (short lease), then a global create token; if either is unavailable, come
   back later (not a failed attempt). A submission the scheduler dispatched already holds
   both: its slot (refreshed here) and a grant ``vbq:sched:grant:{id}`` for the token
   (:mod:`vbq.scheduler.dispatcher`), so it is created at once. An ACCEPTED submission that
   must wait goes back to its place in its scheduler queue (no countdown message).
6. Budget: ``attempts >= max_attempts`` → REJECTED with the last error and ``job.rejected``.
   Several acceptable locations: it runs where it was placed, and a surely-unsent create
   there places it again (:mod:`vbq.workers.submit_placement`).
7. CAS to SUBMITTING (counting the attempt), check the cancel flag again, create the job with
   the submission label, then CAS SUBMITTING → SUBMITTED with ``job.submitted`` in the outbox.
   A cancel that arrived during the create is honoured by cancelling the new job on Vertex.

Ordering the slot and the token *before* the CAS keeps a waiting submission in ACCEPTED, so
a SUBMITTING record always means "a create may have been sent" and only those pay a list call.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import redis

from vbq.errors import (
    NotFoundError,
    SpecError,
    StateConflictError,
    VertexAmbiguousError,
    VertexError,
    VertexPermanentError,
    VertexRetryableError,
)
from vbq.leases import Leases
from vbq.logs import bind_job, get_logger
from vbq.places import placed_spec
from vbq.quota.adaptive import record_throttled
from vbq.scheduler.keys import grant_key
from vbq.scheduler.queues import SchedulerQueues
from vbq.settings import Settings
from vbq.spec import SUBMISSION_LABEL, with_submission_label
from vbq.states import SubmissionState
from vbq.stats import record_create_refusal
from vbq.workers.cancel import cancel_flag_key, cancel_requested
from vbq.workers.ports import Limiter, SlotPool, Store, Vertex
from vbq.workers.retry import backoff_s, capped, granted
from vbq.workers.submit_outcome import (
    UNSENT_TTL_S,
    Outcome,
    error_text,
    find_job,
    label_filter,
    surely_unsent,
    unsent_key,
)
from vbq.workers.submit_placement import place_again
from vbq.workers.submit_transitions import SubmitTransitions
from vbq.workers.submit_waits import settle_s, token_wait_s

__all__ = ["SUBMISSION_LABEL", "Outcome", "Submitter", "label_filter"]

_log = get_logger("vbq.workers.submit")

_S = SubmissionState
_HELD_RECHECK_S = 60.0
_OPEN = (_S.ACCEPTED, _S.SUBMITTING)


class Submitter(SubmitTransitions):
    """Runs submit attempts against a store, a Vertex client and the global limits.

    Args:
        store: the job store.
        vertex: the Vertex REST client.
        limiter: the global rate limiter (``create`` and ``read`` kinds).
        slots: the in-flight caps.
        redis_client: Redis for the per-submission lock, the cancel flag and the backlog size.
        settings: retry budget, backoff, visibility timeout, default project and location.
        rng: randomness for jitter (tests pass a seeded one).
        split_hook: holds Gemini submissions whose input is measured and maybe split first.
    """

    def __init__(
        self,
        *,
        store: Store,
        vertex: Vertex,
        limiter: Limiter,
        slots: SlotPool,
        redis_client: redis.Redis,
        settings: Settings,
        rng: random.Random | None = None,
        split_hook: Any = None,
    ) -> None:
        self.store = store
        self.vertex = vertex
        self.limiter = limiter
        self.slots = slots
        self.redis = redis_client
        self.settings = settings
        self.rng = rng or random.Random()
        self.split_hook = split_hook  # vbq.workers.split_hook.SplitHook (oversized inputs)
        self.queues = SchedulerQueues(redis_client)

    # -- entry point ---------------------------------------------------------------------------

    def run(self, submission_id: str) -> Outcome:
        """Make one attempt to get ``submission_id`` onto Vertex.

        Raises:
            redis.RedisError: the store is unreachable (the caller retries the message).
        """
        with bind_job(submission_id):
            try:
                rec = self.store.get(submission_id)
            except NotFoundError:
                _log.warning("submit.unknown_submission")
                return Outcome(action="noop", reason="not_found")
            if rec.state not in _OPEN:
                return Outcome(action="noop", reason=f"state {rec.state}", job_name=rec.job_name)
            held = (
                self.split_hook.hold(rec) if self.split_hook and rec.state == _S.ACCEPTED else None
            )
            if held is not None:  # a Gemini input being measured (and maybe split) first
                # A slot the dispatcher took for it waits for no create: free it now. Come
                # back in about a minute even so: if the split task's message is lost, this
                # is what brings the submission back (the splitter also re-sends it).
                self.slots.release(rec.id, rec.project, rec.location, rec.model)
                return self._retry(_HELD_RECHECK_S * self.rng.uniform(0.75, 1.25), held)
            token = uuid.uuid4().hex
            lock_key = f"vbq:lock:submit:{submission_id}"
            leases = Leases(self.redis)
            if not leases.take(lock_key, token, self._lock_lease_s()).held:
                return self._retry(self.rng.uniform(1.0, 3.0), "locked")
            try:
                return self._run_locked(submission_id, lock_key)
            finally:
                leases.release(lock_key, token)

    # -- one attempt under the lock --------------------------------------------------------------

    def _run_locked(self, submission_id: str, lock_key: str) -> Outcome:
        rec = self.store.get(submission_id)  # again: it may have moved while we took the lock
        if rec.state not in _OPEN:
            return Outcome(action="noop", reason=f"state {rec.state}", job_name=rec.job_name)
        # Several acceptable locations: as it runs where the dispatcher placed it.
        spec = placed_spec(rec.spec, rec.location) if rec.locations else rec.spec
        try:
            req = spec.resolve(
                default_project=self.settings.project, default_location=self.settings.location
            )
        except SpecError as exc:
            return self._reject(rec, f"invalid spec: {exc}", error=None)
        project, location, model = req.project, req.location, rec.model or req.model
        lease_s = self._lock_lease_s(req.timeout_s)
        if req.timeout_s and req.timeout_s > self.settings.http_timeout_s:
            # A longer create timeout than the default: the lock must outlive the call.
            self.redis.pexpire(lock_key, int(lease_s * 1000))

        if rec.state == _S.SUBMITTING and not self.redis.exists(unsent_key(submission_id)):
            decision = self.limiter.try_acquire("read", project, location)
            if not decision.allowed:
                return self._retry(
                    token_wait_s(self.settings, self.redis, decision.retry_after_s, rng=self.rng),
                    "read_rate_limited",
                )
            try:
                found = find_job(self.vertex, req.parent, submission_id)
            except VertexError as exc:
                return self._retry(
                    backoff_s(self.settings, rec.attempts, exc, rng=self.rng), f"list: {exc}"
                )
            if found is not None:
                return self._adopt(rec, found, project, location, model)

        if cancel_requested(self.redis, submission_id):
            return self._cancel_before_create(rec, project, location, model)

        if rec.attempts >= self.settings.max_attempts:
            self.slots.release(submission_id, project, location, model)
            return self._reject(rec, rec.last_error or "retry budget exhausted", error=None)

        answer = self.slots.try_take(submission_id, project, location, model, lease_s)
        if not granted(answer):
            if self._requeue(rec):
                return Outcome(action="noop", reason="requeued: no_slot", keeps_due_mark=True)
            # A slot frees when the poller sees a job finish: about one poll interval.
            hint = float(getattr(answer, "retry_after_s", 0.0) or self.settings.poll_interval_s)
            return self._retry(hint * self.rng.uniform(0.75, 1.5), "no_slot")
        # The dispatcher took a create token for this very message moments ago (a grant that
        # outlives rate_limit_margin_s is gone, and then a token is taken here).
        if not self.redis.delete(grant_key(submission_id)):
            decision = self.limiter.try_acquire("create", project, location)
            if not decision.allowed:
                self.slots.release(submission_id, project, location, model)
                if self._requeue(rec):  # its grant ran out (a slow pickup): back in line
                    return Outcome(
                        action="noop", reason="requeued: rate_limited", keeps_due_mark=True
                    )
                wait_s = token_wait_s(
                    self.settings, self.redis, decision.retry_after_s, rng=self.rng
                )
                return self._retry(wait_s, "rate_limited")

        try:
            rec = self._mark_submitting(rec)
        except StateConflictError:
            self.slots.release(submission_id, project, location, model)
            # Someone else moved it (another attempt, a cancel, a claim at another place):
            # a due mark now belongs to that newer dispatch, so leave it.
            return Outcome(action="noop", reason="state changed", keeps_due_mark=True)
        # One round trip: read the cancel flag and forget "nothing sent", since from here on
        # a create may be in flight (a crash now must lead to a reconcile, not a blind create).
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(cancel_flag_key(submission_id))
        pipe.delete(unsent_key(submission_id))
        if pipe.execute()[0]:
            return self._cancel_before_create(rec, project, location, model)

        body = with_submission_label(req.body, submission_id)
        try:
            job = self.vertex.create_batch_prediction_job(
                req.parent, body, api_version=req.api_version, timeout_s=req.timeout_s
            )
        except VertexAmbiguousError as exc:
            # The job may exist: keep the slot and reconcile (list by label) on the next run.
            _log.warning("submit.ambiguous", error=str(exc), attempt=rec.attempts)
            self._note_error(rec, exc)
            return self._retry(
                settle_s(self.settings, exc, req.timeout_s, rng=self.rng), f"ambiguous: {exc}"
            )
        except VertexRetryableError as exc:
            record_create_refusal(self.redis, exc.status_code, tenant=rec.tenant)  # console
            if exc.status_code == 429:  # lowers the pool's shared create rate (AIMD)
                record_throttled(self.redis, project, location, settings=self.settings)
            self._note_error(rec, exc)
            if not surely_unsent(exc):
                # 500/502/504/408: Google may have created the job anyway ("may have
                # completed"): like an ambiguous create, keep the slot and reconcile next time.
                _log.warning("submit.maybe_applied", error=str(exc), attempt=rec.attempts)
                return self._retry(
                    backoff_s(self.settings, rec.attempts, exc, rng=self.rng), str(exc)
                )
            # Not applied (429, 503, no connection): the next attempt may skip the reconcile.
            self.redis.set(unsent_key(submission_id), "1", ex=UNSENT_TTL_S)
            self.slots.release(submission_id, project, location, model)
            if rec.attempts >= self.settings.max_attempts:
                return self._reject(rec, error_text(exc), error=exc)
            if len(rec.locations) > 1:  # another acceptable place may take it now
                return place_again(self.store, rec, location, exc)
            _log.info("submit.retryable", error=str(exc), attempt=rec.attempts)
            return self._retry(backoff_s(self.settings, rec.attempts, exc, rng=self.rng), str(exc))
        except VertexPermanentError as exc:
            self.slots.release(submission_id, project, location, model)
            return self._reject(rec, error_text(exc), error=exc)
        return self._record_submitted(rec, job, project, location, model, action="submitted")

    # -- steps -----------------------------------------------------------------------------------

    def _requeue(self, rec: Any) -> bool:
        # Only a submission still ACCEPTED waits in a scheduler queue; SUBMITTING ones need
        # their reconcile and come back with a countdown.
        return rec.state == _S.ACCEPTED and self.queues.requeue(rec.id)

    def _mark_submitting(self, rec: Any) -> Any:
        # One Lua call: ACCEPTED → SUBMITTING (or stay) and attempts + 1, counted before the
        # create is sent so that a crash mid-create still uses up the budget.
        # Also only at the place it was loaded at: another place may have claimed it since.
        return self.store.record_attempt(
            rec.id, expected={rec.state}, new_state=_S.SUBMITTING, expected_location=rec.location
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _retry(self, countdown_s: float, reason: str) -> Outcome:
        return Outcome(
            action="retry", countdown_s=capped(self.settings, countdown_s), reason=reason
        )
