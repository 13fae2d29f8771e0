"""Bulk polling of Vertex AI job states: one event per state change.

Google's SDK polls one GET per job every 5 s; at that pace 50 jobs use the whole 600/min CRUD
quota. A cycle here makes one ``list`` call per page of *our* jobs per (project, location):
filter ``labels.vbq-submission:*`` (every job vbq creates carries that label) and a
``create_time`` bound at the oldest unfinished job, so the calls grow with pages, not with jobs.
A per-job ``get`` is made only for a job the list did not return (deleted, or out of the
window), and for every job when Vertex refuses the filter (fallback).

For each job whose Vertex state differs from the record, one job-store ``transition`` (one Lua
call) compares-and-sets the record and appends the event to the outbox; the relay publishes.
A finished state (SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED, CANCELLED, EXPIRED) takes the job off
the in-flight list, so it is never polled again, and releases its in-flight slot. Two pollers
racing on the same change both try the compare-and-set; exactly one wins, so no event is
written twice (the poll lock, a fenced lease from :mod:`vbq.leases`, only saves the duplicate work).

A job unfinished past ``stale_after_s`` raises ``job.stale`` once (a ``SET NX`` marker and the
outbox append in one Lua call) and keeps being polled.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import redis as redis_lib

from vbq.errors import (
    NotFoundError,
    StateConflictError,
    VertexError,
    VertexPermanentError,
)
from vbq.events import JobEvent
from vbq.leases import Leases, fence_of
from vbq.logs import bind_job, get_logger
from vbq.metrics import observe_poll_cycle
from vbq.settings import Settings
from vbq.states import JobState, SubmissionState, event_type_for, parse_job_state
from vbq.store import JobStore, SubmissionRecord

__all__ = ["FENCE_KEY", "LOCK_KEY", "SUBMISSION_LABEL", "CycleReport", "Poller"]

SUBMISSION_LABEL = "vbq-submission"
_log = get_logger("vbq.workers.poller")

LOCK_KEY = "vbq:poll:lock"  # one poll cycle at a time, across every beat and worker process
FENCE_KEY = "vbq:poll:fence"

# How far before the oldest unfinished job's create time the list window starts, in seconds:
# covers clock skew between Redis (our submitted_at) and Google (createTime).
_WINDOW_MARGIN_S = 600.0
_STALE_SCRIPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', 'event', ARGV[2])
  redis.call('INCR', KEYS[2] .. ':added')
  return 1
end
return 0
"""


class ReadLimiter(Protocol):
    """The part of :class:`vbq.quota.ratelimit.RateLimiter` the poller uses."""

    def acquire_blocking(self, kind: str, project: str, location: str, timeout_s: float) -> Any:
        """Wait for a token; a falsy or ``allowed=False`` result means none came in time."""


class SlotReleaser(Protocol):
    """The part of :class:`vbq.quota.slots.Slots` the poller uses."""

    def release(self, submission_id: str, project: str, location: str, model: str | None) -> Any:
        """Give back a finished job's in-flight slot."""


class VertexReader(Protocol):
    """The read calls of :class:`vbq.vertex.VertexClient` the poller uses."""

    def list_batch_prediction_jobs(
        self, parent: str, *, filter: str = "", page_size: int = 100, page_token: str = ""
    ) -> Any:
        """One page: ``.jobs`` and ``.next_page_token``."""

    def get_batch_prediction_job(self, name: str) -> dict[str, Any]:
        """One job resource."""


@dataclass
class CycleReport:
    """What one poll cycle did (logged, and kept for metrics).

    Attributes:
        ran: False when another process held the lock.
        token: the fencing token of this cycle (0 when it did not run).
        list_calls / get_calls: Vertex read calls made.
        jobs_polled: unfinished submissions looked at.
        jobs_changed: transitions written (one event each).
        stale_events: ``job.stale`` warnings raised this cycle.
        conflicts: transitions lost to another writer (harmless).
        fallback: True when Vertex refused the list filter and per-job gets were used.
        duration_s: wall time of the cycle, in seconds.
        oldest_unfinished_age_s: age of the oldest unfinished job, in seconds (None: none).
        limited: True when the read-rate limit stopped the cycle early.
        list_errors: list calls that failed with a transient error (the location was skipped).
    """

    ran: bool = False
    token: int = 0
    list_calls: int = 0
    get_calls: int = 0
    jobs_polled: int = 0
    jobs_changed: int = 0
    stale_events: int = 0
    conflicts: int = 0
    fallback: bool = False
    duration_s: float = 0.0
    oldest_unfinished_age_s: float | None = None
    limited: bool = False
    list_errors: int = 0
    changed_ids: list[str] = field(default_factory=list)

    @property
    def api_calls(self) -> int:
        """Vertex API calls made in this cycle."""
        return self.list_calls + self.get_calls

    def as_log(self) -> dict[str, Any]:
        """Fields for the cycle's log line."""
        return {
            "ran": self.ran,
            "token": self.token,
            "api_calls": self.api_calls,
            "list_calls": self.list_calls,
            "get_calls": self.get_calls,
            "jobs_polled": self.jobs_polled,
            "jobs_changed": self.jobs_changed,
            "stale_events": self.stale_events,
            "conflicts": self.conflicts,
            "fallback": self.fallback,
            "limited": self.limited,
            "list_errors": self.list_errors,
            "duration_s": round(self.duration_s, 4),
            "oldest_unfinished_age_s": (
                None
                if self.oldest_unfinished_age_s is None
                else round(self.oldest_unfinished_age_s, 1)
            ),
        }


class _ReadBudgetExhaustedError(Exception):
    """No read token came in time: end the cycle early, the next one continues."""


class Poller:
    """Runs poll cycles (see the module docstring).

    Args:
        store: the job store.
        vertex: the Vertex client (only its read calls are used).
        limiter: the global rate limiter (``read`` kind).
        slots: in-flight slots, released when a job finishes.
        redis: the Redis client of the store (lock, stale markers).
        settings: poll interval, page size, stale age.
        lease_s: poll-lock lease in seconds (renewed between pages).
        read_wait_s: longest wait for one read token, in seconds.
    """

    def __init__(
        self,
        *,
        store: JobStore,
        vertex: VertexReader,
        limiter: ReadLimiter,
        slots: SlotReleaser,
        redis: redis_lib.Redis,
        settings: Settings,
        lease_s: float = 30.0,
        read_wait_s: float = 10.0,
    ) -> None:
        self.store = store
        self.vertex = vertex
        self.limiter = limiter
        self.slots = slots
        self.redis = redis
        self.settings = settings
        self.lease_s = lease_s
        self.read_wait_s = read_wait_s
        self.leases = Leases(redis)
        self._stale: Any = redis.register_script(_STALE_SCRIPT)

    # -- cycle --------------------------------------------------------------------------------

    def run_cycle(self) -> CycleReport:
        """One poll cycle over every (project, location) with unfinished jobs."""
        report = CycleReport()
        claim = self.leases.take_fenced(LOCK_KEY, FENCE_KEY, self.lease_s)
        if not claim.held:
            return report
        token = fence_of(claim.value)
        report.ran = True
        report.token = token
        started = time.monotonic()
        try:
            for project, location in self._locations():
                if not self._renew_lock(token):
                    _log.warning("poll lock lost mid-cycle; stopping", token=token)
                    break
                try:
                    self._poll_location(project, location, report, token)
                except _ReadBudgetExhaustedError:
                    report.limited = True
                    break
        finally:
            self.leases.release(LOCK_KEY, str(token))
            report.duration_s = time.monotonic() - started
        _log.info("poll cycle", **report.as_log())
        observe_poll_cycle(duration_s=report.duration_s, api_calls=report.api_calls)
        return report

    def _renew_lock(self, token: int) -> bool:
        return self.leases.renew(LOCK_KEY, str(token), self.lease_s)

    def _locations(self) -> list[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for key in self.redis.scan_iter(match="vbq:inflight:*", count=500):
            text = key.decode() if isinstance(key, bytes) else str(key)
            _, _, project, location = text.split(":", 3)
            found.add((project, location))
        return sorted(found)

    def _poll_location(self, project: str, location: str, report: CycleReport, token: int) -> None:
        records = self.store.unfinished(project, location)
        if not records:
            return
        report.jobs_polled += len(records)
        now = _redis_now(self.redis)
        oldest = min(r.submitted_at or r.created_at for r in records)
        age = now - oldest
        if report.oldest_unfinished_age_s is None or age > report.oldest_unfinished_age_s:
            report.oldest_unfinished_age_s = age
        by_id = {r.id: r for r in records}
        parent = f"projects/{project}/locations/{location}"
        seen: dict[str, dict[str, Any]] = {}
        complete = True
        try:
            for listed in self._list_ours(
                parent=parent,
                project=project,
                location=location,
                records=records,
                report=report,
                token=token,
            ):
                sid = (listed.get("labels") or {}).get(SUBMISSION_LABEL)
                rec = by_id.get(sid or "")
                # Only the job the record points at: a stray job carrying the same label (made
                # outside vbq) must never drive this submission's state.
                if rec is not None and listed.get("name") == rec.job_name:
                    seen[rec.id] = listed
        except VertexPermanentError as exc:
            # Vertex refused the filter (or the list): fall back to one get per job.
            _log.warning("list refused; falling back to per-job get", error=str(exc))
            report.fallback = True
        except VertexError as exc:
            # 429, 5xx, timeout: apply what the pages so far showed; the next cycle lists again.
            # Per-job gets for the rest would spend the read quota that just ran out.
            _log.warning("list failed; next cycle retries", project=project, error=str(exc))
            report.list_errors += 1
            complete = False
        for sid, rec in by_id.items():
            job = seen.get(sid)
            if job is None and complete:
                job = self._get_one(rec, project, location, report)
            if job is not None:
                self._apply(rec, job, report)
        self._raise_stale(records, now, report)

    def _list_ours(
        self,
        *,
        parent: str,
        project: str,
        location: str,
        records: Iterable[SubmissionRecord],
        report: CycleReport,
        token: int,
    ) -> Iterable[dict[str, Any]]:
        bound = _window_start(records)
        flt = f'labels.{SUBMISSION_LABEL}:* AND create_time>="{bound}"'
        page_token = ""
        while True:
            self._read_token(project, location)
            page = self.vertex.list_batch_prediction_jobs(
                parent, filter=flt, page_size=self.settings.poll_page_size, page_token=page_token
            )
            report.list_calls += 1
            yield from page.jobs
            page_token = page.next_page_token
            if not page_token:
                return
            self._renew_lock(token)

    def _get_one(
        self, rec: SubmissionRecord, project: str, location: str, report: CycleReport
    ) -> dict[str, Any] | None:
        if not rec.job_name:
            return None
        self._read_token(project, location)
        report.get_calls += 1
        try:
            return self.vertex.get_batch_prediction_job(rec.job_name)
        except VertexPermanentError as exc:
            if exc.status_code == 404:
                # Deleted outside vbq: it will never report again; end it as FAILED.
                return {
                    "name": rec.job_name,
                    "state": "JOB_STATE_FAILED",
                    "error": {"code": 5, "message": f"Vertex job not found: {exc.message}"},
                }
            _log.warning("get failed", submission_id=rec.id, error=str(exc))
            return None
        except VertexError as exc:
            _log.warning("get failed; next cycle retries", submission_id=rec.id, error=str(exc))
            return None

    def _read_token(self, project: str, location: str) -> None:
        got = self.limiter.acquire_blocking("read", project, location, self.read_wait_s)
        if not got or getattr(got, "allowed", True) is False:
            raise _ReadBudgetExhaustedError

    # -- transitions --------------------------------------------------------------------------

    def _apply(self, rec: SubmissionRecord, job: dict[str, Any], report: CycleReport) -> None:
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

    def _raise_stale(
        self, records: Iterable[SubmissionRecord], now: float, report: CycleReport
    ) -> None:
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
                labels=rec.labels,
                metadata=rec.metadata,
                event_state="STALE",
            )
            ttl_s = int(self.settings.inbox_ttl_s + self.settings.stale_after_s)
            if int(
                self._stale(
                    keys=[f"vbq:stale:{rec.id}", "vbq:outbox"], args=[ttl_s, event.to_json()]
                )
            ):
                report.stale_events += 1
                _log.warning("job is stale", submission_id=rec.id, age_s=round(now - start))


def _window_start(records: Iterable[SubmissionRecord]) -> str:
    """RFC 3339 start of the list window: the oldest unfinished job, minus a margin."""
    oldest: float | None = None
    for rec in records:
        created = _job_create_time(rec.job) or rec.submitted_at or rec.created_at
        oldest = created if oldest is None else min(oldest, created)
    start = (oldest or time.time()) - _WINDOW_MARGIN_S
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _job_create_time(job: dict[str, Any] | None) -> float | None:
    if not job or not isinstance(job.get("createTime"), str):
        return None
    try:
        return datetime.fromisoformat(job["createTime"].replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _redis_now(redis: redis_lib.Redis) -> float:
    seconds, micros = redis.time()
    return float(seconds) + float(micros) / 1e6


def group_by_location(records: Iterable[SubmissionRecord]) -> dict[tuple[str, str], list[str]]:
    """Submission ids grouped by (project, location) (used by tests and tools)."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rec in records:
        out[(rec.project, rec.location)].append(rec.id)
    return dict(out)
