"""The store transitions of a submit attempt (mixed into :class:`vbq.workers.submit.Submitter`):
SUBMITTING → SUBMITTED for a created or adopted job (with its in-flight slot held), REJECTED
when the budget is spent, CANCELLED before anything was sent, ``last_error`` of a failed
attempt; each with its event in the outbox, in the same Lua call.
"""

from __future__ import annotations

from typing import Any, Literal

import redis

from vbq.errors import StateConflictError, VertexError
from vbq.events import JobEvent
from vbq.logs import get_logger
from vbq.metrics import observe_submitted
from vbq.settings import Settings
from vbq.states import SubmissionState, event_type_for
from vbq.workers.cancel import cancel_requested
from vbq.workers.ports import SlotPool, Store
from vbq.workers.retry import granted
from vbq.workers.submit_outcome import Outcome, error_text

__all__ = ["SubmitTransitions"]

_log = get_logger("vbq.workers.submit")  # the logger name from before the split
_S = SubmissionState


class SubmitTransitions:
    """Recording a submit attempt's result; the submitter provides ``store``, ``slots``,
    ``redis`` and ``settings``."""

    store: Store
    slots: SlotPool
    redis: redis.Redis
    settings: Settings

    def _adopt(
        self, rec: Any, job: dict[str, Any], project: str, location: str, model: str | None
    ) -> Outcome:
        _log.info("submit.adopted", job_name=job.get("name"))
        return self._record_submitted(rec, job, project, location, model, action="adopted")

    def _record_submitted(
        self,
        rec: Any,
        job: dict[str, Any],
        project: str,
        location: str,
        model: str | None,
        *,
        action: Literal["submitted", "adopted"],
    ) -> Outcome:
        name = str(job.get("name", ""))
        event = self._event(rec, _S.SUBMITTED, job=job)
        try:
            self.store.transition(
                rec.id,
                expected={_S.SUBMITTING},
                new_state=_S.SUBMITTED,
                updates={"job_name": name, "job": job},
                event=event,
            )
        except StateConflictError:
            current = self.store.get(rec.id)
            _log.warning("submit.transition_lost", state=str(current.state))
            return Outcome(action="noop", reason=f"state {current.state}", job_name=name)
        self._hold_slot(rec.id, project, location, model)
        observe_submitted(accepted_at_s=rec.created_at, tenant=rec.tenant, via=action)
        _log.info("submit.submitted", job_name=name, via=action, attempts=rec.attempts)
        # Checked AFTER the transition: a canceller sets the flag before it reads the state, so
        # either it saw SUBMITTED (and cancels on Vertex itself) or this check sees its flag.
        # The cancel task does the Vertex call under the read limit, with retries.
        follow_up = cancel_requested(self.redis, rec.id)
        if follow_up:
            _log.info("submit.cancel_follows", job_name=name)
        return Outcome(action=action, job_name=name, cancel_follows=follow_up)

    def _note_error(self, rec: Any, exc: VertexError) -> None:
        try:
            self.store.touch(
                rec.id, expected={_S.SUBMITTING}, updates={"last_error": error_text(exc)}
            )
        except StateConflictError:
            pass

    def _reject(self, rec: Any, message: str, *, error: VertexError | None) -> Outcome:
        detail: dict[str, Any] = {"message": message}
        if error is not None:
            detail.update(code=error.status_code, status=error.status)
        # No Vertex job exists, so the event's `job` carries only Google's error, shaped like
        # the `error` field of a BatchPredictionJob (docs/contracts.md § Events from submit).
        event = self._event(rec, _S.REJECTED, job={"error": detail})
        try:
            self.store.transition(
                rec.id,
                expected={rec.state},  # the event names it as previous_state
                new_state=_S.REJECTED,
                updates={"last_error": message},
                event=event,
            )
        except StateConflictError:
            return Outcome(action="noop", reason="state changed")
        _log.warning("submit.rejected", error=message, attempts=rec.attempts)
        return Outcome(action="rejected", reason=message)

    def _cancel_before_create(
        self, rec: Any, project: str, location: str, model: str | None
    ) -> Outcome:
        self.slots.release(rec.id, project, location, model)
        try:
            self.store.transition(
                rec.id,
                expected={rec.state},  # the event names it as previous_state
                new_state=_S.CANCELLED,
                updates={},
                event=self._event(rec, _S.CANCELLED, job=None),
            )
        except StateConflictError:
            return Outcome(action="noop", reason="state changed")
        _log.info("submit.cancelled_before_create")
        return Outcome(action="cancelled", reason="cancel requested")

    def _hold_slot(
        self, submission_id: str, project: str, location: str, model: str | None
    ) -> None:
        if self.slots.hold(submission_id, project, location, model):
            return
        # The short lease ran out (a slow ambiguous create, then another submission took the
        # place): the job exists anyway, so it must count against the cap again.
        answer = self.slots.try_take(submission_id, project, location, model, self._lock_lease_s())
        if granted(answer):
            self.slots.hold(submission_id, project, location, model)
        else:
            _log.warning("submit.slot_lost_job_exists", note="in-flight cap exceeded by one")

    def _event(self, rec: Any, state: SubmissionState, *, job: dict[str, Any] | None) -> JobEvent:
        etype = event_type_for(state)
        assert etype is not None
        return JobEvent.create(
            type=etype,
            submission_id=rec.id,
            state=state.value,
            previous_state=str(rec.state),
            job=job,
            tenant=rec.tenant,
            location=rec.location,
            priority=rec.priority,
            labels=dict(rec.labels or {}),
            metadata=dict(rec.metadata or {}),
        )

    def _lock_lease_s(self, create_timeout_s: float | None = None) -> float:
        # Covers one list and one create (each bounded by its timeout) plus a few store calls;
        # a killed holder blocks the next attempt for at most this long.
        call_s = max(self.settings.http_timeout_s, create_timeout_s or 0.0)
        return 2 * call_s + 10.0
