"""Bulk polling of Vertex AI job states: one event per state change.

Google's SDK polls one GET per job every 5 s; at that pace 50 jobs use the whole 600/min CRUD
quota. A cycle here makes one ``list`` call per page of *our* jobs per (project, location):
filter ``labels.vbq-submission:*`` (every job vbq creates carries that label) and a
``create_time`` bound at the oldest unfinished job, so the calls grow with pages, not with jobs.
A per-job ``get`` is made only for a job the list did not return (deleted, or out of the
window), and for every job when Vertex refuses the filter (fallback).

Our own cost is flat in the number of jobs too: the locations come from one small zset and the
jobs from a slim view (:mod:`vbq.store.inflight`: id, state, job name, stale marker, one Lua call
per 2,000 jobs, never a ``SCAN``); a listed job whose state maps to the record's state costs a
dict lookup. Whole records are read only for the jobs that changed (or turned stale).

What a cycle writes is in :mod:`vbq.workers.job_changes`: for each job whose Vertex state
differs from the record, one compare-and-set transition with its event in the outbox (the relay
publishes); a finished state takes the job off the in-flight list, so it is never polled again,
and releases its in-flight slot; a job unfinished past ``stale_after_s`` raises ``job.stale``
once and keeps being polled. Two pollers racing on the same change both try the compare-and-set
and exactly one wins, so the poll lock (a fenced lease, :mod:`vbq.leases`) only saves work.

With a schedule (the ``vbq.poll`` task), a cycle polls only the places that are due, read under
the lock, and reschedules each by what its poll found (:mod:`vbq.store.poll_schedule`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import redis as redis_lib

from vbq.errors import VertexError, VertexPermanentError
from vbq.leases import Leases, fence_of
from vbq.logs import get_logger
from vbq.metrics import observe_poll_cycle
from vbq.redisconn import client_for
from vbq.settings import Settings
from vbq.spec import SUBMISSION_LABEL
from vbq.store import JobStore
from vbq.store.inflight import InflightIndex, InflightJob
from vbq.store.poll_schedule import Outcome, PlaceSchedule, PlaceState
from vbq.workers.job_changes import JobChanges, SlotReleaser, listed_state
from vbq.workers.poll_report import CycleReport, place_log
from vbq.workers.results_hook import ResultsHook

__all__ = ["FENCE_KEY", "LOCK_KEY", "SUBMISSION_LABEL", "CycleReport", "Poller"]

_log = get_logger("vbq.workers.poller")

LOCK_KEY = "vbq:poll:lock"  # one poll cycle at a time, across every beat and worker process
FENCE_KEY = "vbq:poll:fence"

# How far before the oldest unfinished job's submitted_at the list window starts, in seconds:
# covers clock skew between Redis (our submitted_at) and Google (createTime), and the time a
# create call took. A job created earlier than that (adopted long after its create) is not
# listed: it gets its own ``get``, as any job the list did not return.
_WINDOW_MARGIN_S = 600.0
# Records read per pipeline when a change or a stale warning needs the whole record.
_RECORD_CHUNK = 1000


class ReadLimiter(Protocol):
    """The part of :class:`vbq.quota.ratelimit.RateLimiter` the poller uses."""

    def acquire_blocking(self, kind: str, project: str, location: str, timeout_s: float) -> Any:
        """Wait for a token; a falsy or ``allowed=False`` result means none came in time."""


class VertexReader(Protocol):
    """The read calls of :class:`vbq.vertex.VertexClient` the poller uses."""

    def list_batch_prediction_jobs(
        self, parent: str, *, filter: str = "", page_size: int = 100, page_token: str = ""
    ) -> Any:
        """One page: ``.jobs`` and ``.next_page_token``."""

    def get_batch_prediction_job(self, name: str) -> dict[str, Any]:
        """One job resource."""


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
        results: owes finished events that wait for the job's outputs (requests, tokens).
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
        results: ResultsHook | None = None,
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
        self.inflight = InflightIndex(redis)
        self._index_checked = False
        self._renewed_at = 0.0  # monotonic time of the last poll-lock renewal
        self.changes = JobChanges(
            store=store, slots=slots, redis=redis, settings=settings, results=results
        )

    @classmethod
    def from_settings(cls, settings: Settings, client: redis_lib.Redis | None = None) -> Poller:
        """A poller wired to the real store, Vertex client, rate limiter and slots.

        Args:
            settings: every part's settings.
            client: the Redis client to share (default: a new one on ``settings.redis_url``).
        """
        from vbq.quota.ratelimit import RateLimiter
        from vbq.quota.slots import Slots
        from vbq.store.results import ResultsBook
        from vbq.vertex import VertexClient

        client = client or client_for(settings, decode_responses=True)
        return cls(
            store=JobStore(client, settings=settings),
            vertex=VertexClient.from_settings(settings),
            limiter=RateLimiter(client, settings=settings),
            slots=Slots(client, settings=settings),
            redis=client,
            settings=settings,
            results=ResultsHook(book=ResultsBook(client), settings=settings),
        )

    # -- cycle --------------------------------------------------------------------------------

    def run_cycle(
        self, *, schedule: PlaceSchedule | None = None, force: bool = False
    ) -> CycleReport:
        """One poll cycle over the (project, location) pairs with unfinished jobs.

        Args:
            schedule: each place's poll schedule: only the places due are polled (read under
                the poll lease, so two processes never poll a place twice in its interval),
                and each is rescheduled by what its poll found. None: every place, unscheduled.
            force: with ``schedule``, poll every place now (and reschedule each).
        """
        report = CycleReport()
        claim = self.leases.take_fenced(LOCK_KEY, FENCE_KEY, self.lease_s)
        if not claim.held:
            return report
        token = fence_of(claim.value)
        self._renewed_at = time.monotonic()
        report.ran = True
        report.token = token
        started = time.monotonic()
        try:
            if not self._index_checked:
                self.inflight.ensure_built()  # once per process: one EXISTS when built
                self._index_checked = True
            if schedule is None:
                places = [PlaceState(p, loc, 0.0) for p, loc in self.inflight.locations()]
            else:
                places = schedule.due(force=force)
            for place in places:
                if not self._renew_lock(token):
                    _log.warning("poll lock lost mid-cycle; stopping", token=token)
                    break
                if schedule is not None:
                    # Stamped as each poll starts: a place this cycle never reached keeps the
                    # wake-up of a job submitted since its last poll.
                    schedule.started([place])
                outcome = self._poll_place(place, report, token)
                if schedule is not None:
                    interval = schedule.finished(place, outcome)
                    report.places.append(place_log(place, outcome, interval))
        finally:
            self.leases.release(LOCK_KEY, str(token))
            report.duration_s = time.monotonic() - started
        _log.info("poll cycle", **report.as_log())
        observe_poll_cycle(duration_s=report.duration_s, api_calls=report.api_calls)
        return report

    def _poll_place(self, place: PlaceState, report: CycleReport, token: int) -> Outcome:
        changed, errors = report.jobs_changed, report.list_errors
        try:
            self._poll_location(place.project, place.location, report, token)
        except _ReadBudgetExhaustedError:
            # That place's read quota is its own: skip it this cycle, poll the others.
            report.limited = True
            return Outcome.FAILED
        if report.list_errors > errors:
            return Outcome.FAILED
        return Outcome.CHANGED if report.jobs_changed > changed else Outcome.QUIET

    def _renew_lock(self, token: int) -> bool:
        self._renewed_at = time.monotonic()
        return self.leases.renew(LOCK_KEY, str(token), self.lease_s)

    def _renew_lock_when_due(self, token: int) -> None:
        # Between pages: every third of the lease, not every page (a round trip each).
        if time.monotonic() - self._renewed_at >= self.lease_s / 3:
            self._renew_lock(token)

    def _poll_location(self, project: str, location: str, report: CycleReport, token: int) -> None:
        now = _redis_now(self.redis)
        stale_cutoff = now - self.settings.stale_after_s
        view = self.inflight.view(project, location, stale_cutoff=stale_cutoff)
        jobs = {job.id: job for job in view}
        if not jobs:
            self.inflight.prune(project, location)
            return
        report.jobs_polled += len(jobs)
        oldest = min(job.submitted_at for job in jobs.values())
        age = now - oldest
        if report.oldest_unfinished_age_s is None or age > report.oldest_unfinished_age_s:
            report.oldest_unfinished_age_s = age
        parent = f"projects/{project}/locations/{location}"
        seen: set[str] = set()
        changed: dict[str, dict[str, Any]] = {}  # submission id -> the Vertex job, in list order
        complete = True
        try:
            try:
                for listed in self._list_ours(
                    parent=parent,
                    project=project,
                    location=location,
                    oldest=oldest,
                    report=report,
                    token=token,
                ):
                    labels = listed.get("labels")
                    sid = labels.get(SUBMISSION_LABEL) if isinstance(labels, dict) else None
                    job = jobs.get(sid) if isinstance(sid, str) else None
                    # Only the job the record points at: a stray job carrying the same label (made
                    # outside vbq) must never drive this submission's state.
                    if job is None or listed.get("name") != job.job_name:
                        continue
                    seen.add(job.id)
                    state = listed_state(listed)
                    if state and state != job.state:
                        changed[job.id] = listed
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
            if complete:
                for sid, job in jobs.items():
                    if sid in seen:
                        continue
                    got = self._get_one(job, project, location, report)
                    state = listed_state(got) if got is not None else ""
                    if got is not None and state and state != job.state:
                        changed[sid] = got
        except _ReadBudgetExhaustedError:
            self._apply(changed, report)  # what the pages so far showed still counts
            raise
        self._apply(changed, report)
        due = [
            sid
            for sid, job in jobs.items()
            if not job.stale_raised and job.submitted_at <= stale_cutoff
        ]
        for chunk in _chunks(due):
            self.changes.raise_stale(self.store.get_many(chunk), now, report)

    def _apply(self, changed: dict[str, dict[str, Any]], report: CycleReport) -> None:
        """Write the changes found, reading whole records a chunk at a time."""
        for chunk in _chunks(list(changed)):
            for rec in self.store.get_many(chunk):
                self.changes.apply(rec, changed[rec.id], report)

    def _list_ours(
        self,
        *,
        parent: str,
        project: str,
        location: str,
        oldest: float,
        report: CycleReport,
        token: int,
    ) -> Iterator[dict[str, Any]]:
        bound = _window_start(oldest)
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
            self._renew_lock_when_due(token)

    def _get_one(
        self, rec: InflightJob, project: str, location: str, report: CycleReport
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


def _window_start(oldest_submitted_at: float) -> str:
    """RFC 3339 start of the list window: the oldest unfinished job's submit time, minus a
    margin."""
    start = oldest_submitted_at - _WINDOW_MARGIN_S
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), _RECORD_CHUNK):
        yield ids[i : i + _RECORD_CHUNK]


def _redis_now(redis: redis_lib.Redis) -> float:
    seconds, micros = redis.time()
    return float(seconds) + float(micros) / 1e6
