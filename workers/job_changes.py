"""What a poll cycle writes for the jobs it saw: state changes and stale warnings.

A job whose Vertex state differs from its record gets one job-store ``transition`` (one Lua
call) that compares-and-sets the record and appends the event to the outbox; two pollers racing
on the same change both try, exactly one wins, so no event is written twice. A finished state
releases the job's in-flight slot.

A job unfinished past ``stale_after_s`` raises ``job.stale`` once: a ``SET NX`` marker
(``vbq:stale:{id}``) and the outbox append in one Lua call.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Protocol

import redis as redis_lib

from vbq.errors import NotFoundError, StateConflictError
from vbq.events import JobEvent
from vbq.logs import bind_job, get_logger
from vbq.settings import Settings
from vbq.states import JobState, SubmissionState, event_type_for, parse_job_state
from vbq.store import JobStore, SubmissionRecord
from vbq.store.keys import OUTBOX_KEY
from vbq.workers.poll_report import CycleReport
from vbq.workers.results_hook import ResultsHook

__all__ = ["JobChanges", "SlotReleaser", "listed_state"]

_log = get_logger("vbq.workers.poller")

_STALE_SCRIPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', 'event', ARGV[2])
  redis.call('INCR', KEYS[2] .. ':added')
  return 1
end
return 0
"""


_UNKNOWN = "?"  # never a state value: a job in an unknown state goes to JobChanges.apply (logs it)


def listed_state(job: dict[str, Any]) -> str:
    """The submission state value a Vertex ``job`` maps to, cheaply (cached per Vertex state).

    Returns ``""`` for ``JOB_STATE_UNSPECIFIED`` (no change to make) and ``"?"`` for a state
    that cannot be parsed: it differs from every record's state, so :meth:`JobChanges.apply`
    sees the job and logs it.
    """
    state = job.get("state", 0)
    if not isinstance(state, str | int):
        return _UNKNOWN
    return _state_value(state)


@lru_cache(maxsize=128)
def _state_value(vertex_state: str | int) -> str:
    try:
        parsed = parse_job_state(vertex_state)
    except ValueError:
        return _UNKNOWN
    if parsed is JobState.JOB_STATE_UNSPECIFIED:
        return ""
    return SubmissionState.from_job_state(parsed).value


class SlotReleaser(Protocol):
    """The part of :class:`vbq.quota.slots.Slots` the poller uses."""

    def release(self, submission_id: str, project: str, location: str, model: str | None) -> Any:
        """Give back a finished job's in-flight slot."""


class JobChanges:
    """Writes the state changes and stale warnings a poll cycle found.

    Args:
        store: the job store.
        slots: in-flight slots, released when a job finishes.
        redis: the Redis client of the store (stale markers).
        settings: ``stale_after_s`` and ``inbox_ttl_s`` (how long a stale marker lives).
        results: the results hook (:mod:`vbq.workers.results_hook`): a finished event of a
            pack or of a Gemini job is owed until its outputs were read.
    """

    def __init__(
        self,
        *,
        store: JobStore,
        slots: SlotReleaser,
        redis: redis_lib.Redis,
        settings: Settings,
        results: ResultsHook | None = None,
    ) -> None:
        self.store = store
        self.slots = slots
        self.settings = settings
        self.results = results  # owes finished events that wait for the job's outputs
        self._stale: Any = redis.register_script(_STALE_SCRIPT)

    def apply(self, rec: SubmissionRecord, job: dict[str, Any], report: CycleReport) -> None:
        """Move ``rec`` to the state of its Vertex ``job`` (with its event), if it changed.

        Raises:
            redis.RedisError: the store is unreachable.
        """
        try:
            vertex_state = parse_job_state(job.get("state", 0))
        except ValueError:
            _log.warning("unknown Vertex state", submission_id=rec.id, state=job.get("state"))
            return
        if vertex_state is JobState.JOB_STATE_UNSPECIFIED:
            return
        new_state = SubmissionState.from_job_state(vertex_state)
        if new_state == rec.state:
            return
        event_type = event_type_for(new_state)
        event = (
            JobEvent.create(
                type=event_type,
                submission_id=rec.id,
                state=new_state.value,
                previous_state=rec.state.value,
                job=job,
                tenant=rec.tenant,
                location=rec.location,
                priority=rec.priority,
                labels=rec.labels,
                metadata=rec.metadata,
            )
            if event_type
            else None
        )
        updates: dict[str, Any] = {"job": job}
        error = job.get("error")
        if isinstance(error, dict) and error.get("message"):
            updates["last_error"] = str(error["message"])
        if event is not None and new_state.finished and self.results is not None:
            event = self.results.defer(rec, job, event)
        with bind_job(rec.id, rec.job_name):
            try:
                self.store.transition(
                    rec.id, expected={rec.state}, new_state=new_state, updates=updates, event=event
                )
            except (StateConflictError, NotFoundError):
                report.conflicts += 1
                return
            report.jobs_changed += 1
            report.changed_ids.append(rec.id)
            _log.info("job state changed", previous=rec.state.value, state=new_state.value)
            if new_state.finished:
                self.slots.release(rec.id, rec.project, rec.location, rec.model)

    def raise_stale(
        self, records: Iterable[SubmissionRecord], now: float, report: CycleReport
    ) -> None:
        """Raise ``job.stale`` once for each record unfinished for ``stale_after_s``.

        Args:
            records: the unfinished records of one location.
            now: Redis server time in epoch seconds.
            report: counts ``stale_events``.

        Raises:
            redis.RedisError: the store is unreachable.
        """
        for rec in records:
            start = rec.submitted_at or rec.created_at
            if now - start < self.settings.stale_after_s:
                continue
            fresh = self.store.get(rec.id)
            if fresh.finished:
                continue
            event = JobEvent.create(
                type="job.stale",
                submission_id=rec.id,
                state=fresh.state.value,
                previous_state=fresh.state.value,
                job=fresh.job,
                tenant=rec.tenant,
                location=rec.location,
                priority=rec.priority,
                labels=rec.labels,
                metadata=rec.metadata,
                event_state="STALE",
            )
            ttl_s = int(self.settings.inbox_ttl_s + self.settings.stale_after_s)
            if int(
                self._stale(keys=[f"vbq:stale:{rec.id}", OUTBOX_KEY], args=[ttl_s, event.to_json()])
            ):
                report.stale_events += 1
                _log.warning("job is stale", submission_id=rec.id, age_s=round(now - start))
