"""Small in-memory stand-ins for the store, the Vertex client and the limits (unit tests only)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vbq.errors import NotFoundError, StateConflictError, VertexError
from vbq.events import JobEvent
from vbq.states import SubmissionState

PROJECT = "proj"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"


@dataclass(frozen=True)
class Resolved:
    project: str = PROJECT
    location: str = LOCATION
    priority: str = "default"
    parent: str = PARENT
    api_version: str = "v1"
    body: dict[str, Any] = field(
        default_factory=lambda: {"displayName": "d", "labels": {"team": "a"}}
    )
    model: str | None = f"{PARENT}/models/m1"
    timeout_s: float | None = None


class Spec:
    def resolve(self, *, default_project: str, default_location: str) -> Resolved:
        return Resolved()


@dataclass(frozen=True)
class Record:
    id: str
    state: SubmissionState = SubmissionState.ACCEPTED
    spec: Any = field(default_factory=Spec)
    tenant: str = "t1"
    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    project: str = PROJECT
    location: str = LOCATION
    priority: str = "default"
    model: str | None = None
    job_name: str | None = None
    job: dict[str, Any] | None = None
    attempts: int = 0
    last_error: str | None = None
    created_at: float = 0.0
    locations: tuple[str, ...] = ()
    placement_avoid: str | None = None


class FakeStore:
    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.events: list[JobEvent] = []

    def add(self, rec: Record) -> Record:
        self.records[rec.id] = rec
        return rec

    def get(self, submission_id: str, tenant: str | None = None) -> Record:
        try:
            return self.records[submission_id]
        except KeyError:
            raise NotFoundError(submission_id) from None

    def _cas(self, submission_id: str, expected: Iterable[Any] | None) -> Record:
        rec = self.get(submission_id)
        if expected is not None:
            names = {SubmissionState(s) for s in expected}
            if rec.state not in names:
                raise StateConflictError(submission_id, names, rec.state)
        return rec

    def transition(
        self,
        submission_id: str,
        *,
        expected: Iterable[Any],
        new_state: Any,
        updates: Mapping[str, Any] | None = None,
        event: JobEvent | None = None,
    ) -> Record:
        rec = self._cas(submission_id, expected)
        rec = replace(rec, state=SubmissionState(new_state), **dict(updates or {}))
        self.records[submission_id] = rec
        if event is not None:
            self.events.append(event)
        return rec

    def record_attempt(
        self,
        submission_id: str,
        error: str | None = None,
        *,
        expected: Iterable[Any] | None = None,
        new_state: Any = SubmissionState.SUBMITTING,
        expected_location: str | None = None,
    ) -> Record:
        rec = self._cas(submission_id, expected)
        if expected_location is not None and rec.location != expected_location:
            raise StateConflictError(submission_id, ["location"], rec.state)
        rec = replace(
            rec,
            attempts=rec.attempts + 1,
            last_error=rec.last_error if error is None else error,
            state=rec.state if new_state is None else SubmissionState(new_state),
        )
        self.records[submission_id] = rec
        return rec

    def touch(
        self,
        submission_id: str,
        *,
        expected: Iterable[Any] | None = None,
        updates: Mapping[str, Any] | None = None,
    ) -> Record:
        rec = self._cas(submission_id, expected)
        rec = replace(rec, **dict(updates or {}))
        self.records[submission_id] = rec
        return rec


@dataclass(frozen=True)
class Page:
    jobs: list[dict[str, Any]]
    next_page_token: str = ""


class FakeVertex:
    """Creates jobs in memory; ``script`` lists errors to raise on the next creates."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.script: list[VertexError | None] = []
        self.created_but_error: set[int] = set()
        self.cancelled: list[str] = []
        self.on_create: Callable[[], None] | None = None
        self.cancel_error: VertexError | None = None
        self._ids = itertools.count(1)

    def create_batch_prediction_job(
        self,
        parent: str,
        body: dict[str, Any],
        *,
        api_version: str = "v1",
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        self.calls.append("create")
        n = len([c for c in self.calls if c == "create"])
        if self.on_create is not None:
            self.on_create()
        error = self.script.pop(0) if self.script else None
        if error is not None and n not in self.created_but_error:
            raise error
        job = {
            **body,
            "name": f"{parent}/batchPredictionJobs/{next(self._ids)}",
            "state": "JOB_STATE_PENDING",
            "createTime": f"2026-01-01T00:00:{len(self.jobs):02d}Z",
        }
        self.jobs.append(job)
        if error is not None:
            raise error  # created, then the answer was lost
        return job

    def list_batch_prediction_jobs(
        self, parent: str, *, filter: str = "", page_size: int = 100, page_token: str = ""
    ) -> Page:
        self.calls.append("list")
        want = filter.split("=", 1)[1].strip('"') if "=" in filter else None
        return Page(
            jobs=[j for j in self.jobs if want is None or j["labels"].get("vbq-submission") == want]
        )

    def cancel_batch_prediction_job(self, name: str) -> None:
        self.calls.append("cancel")
        if self.cancel_error is not None:
            raise self.cancel_error
        self.cancelled.append(name)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0


class FakeLimiter:
    def __init__(self) -> None:
        self.deny: dict[str, float] = {}
        self.taken: list[str] = []

    def try_acquire(self, kind: str, project: str, location: str) -> Decision:
        if kind in self.deny:
            return Decision(False, self.deny[kind])
        self.taken.append(kind)
        return Decision(True, 0.0)


class FakeSlots:
    def __init__(self, capacity: int = 10) -> None:
        self.capacity = capacity
        self.leased: set[str] = set()
        self.held: set[str] = set()

    def try_take(
        self, submission_id: str, project: str, location: str, model: str | None, lease_s: float
    ) -> bool:
        if submission_id in self.leased or submission_id in self.held:
            return True
        if len(self.leased) + len(self.held) >= self.capacity:
            return False
        self.leased.add(submission_id)
        return True

    def release(self, submission_id: str, project: str, location: str, model: str | None) -> None:
        self.leased.discard(submission_id)
        self.held.discard(submission_id)

    def hold(self, submission_id: str, project: str, location: str, model: str | None) -> bool:
        # Like vbq.quota.slots.Slots.hold: only a slot that still exists becomes held.
        if submission_id not in self.leased and submission_id not in self.held:
            return False
        self.leased.discard(submission_id)
        self.held.add(submission_id)
        return True
