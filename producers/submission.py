"""``Submission``: a handle on one submission, shaped like the SDK's ``BatchPredictionJob``.

Properties follow ``google.cloud.aiplatform.BatchPredictionJob`` (``state``, ``resource_name``,
``display_name``, ``completion_stats``, ``output_info``, ``error``, ``partial_failures``,
``create_time``, ...). Output fields come from the last Vertex resource the workers stored
(``job``), converted to snake_case like the SDK's proto messages; they are None until the job
exists at Google. Like the SDK's ``state``, which fetches the job again, :attr:`Submission.state`
re-reads the record from the job store (one Redis round trip, never a Google call).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vbq.producers.job_fields import (
    iso_from_datetime,
    iso_from_epoch,
    job_str,
    job_time,
    snake_counts,
    snake_dict,
    spec_value,
)
from vbq.states import SubmissionState

if TYPE_CHECKING:
    from vbq.store.records import SubmissionRecord

__all__ = ["Submission"]

DEFAULT_POLL_INTERVAL_S = 1.0


class Submission:
    """One submission in the job store, seen by the client that can refresh and cancel it.

    Build it with :meth:`vbq.producers.Client.submit` or :meth:`vbq.producers.Client.get`, not
    directly.

    Args:
        record: the record as last read.
        fetch: reads the record again (raises ``NotFoundError``).
        cancel: asks for cancellation of this submission and returns the fresh record.
    """

    def __init__(
        self,
        *,
        record: SubmissionRecord,
        fetch: Callable[[str], SubmissionRecord],
        cancel: Callable[[str], SubmissionRecord],
        created: bool = True,
    ) -> None:
        self._record = record
        self._fetch = fetch
        self._cancel = cancel
        self.created = created
        """False when an idempotency key matched an existing submission."""

    # -- identity -------------------------------------------------------------------------------

    @property
    def submission_id(self) -> str:
        """The vbq submission id (32 hex characters; the ``vbq-submission`` label)."""
        return self._record.id

    @property
    def record(self) -> SubmissionRecord:
        """The job-store record as last read (no round trip)."""
        return self._record

    @property
    def tenant(self) -> str:
        """The tenant that owns the submission."""
        return self._record.tenant

    @property
    def priority(self) -> str:
        """Its priority within the tenant's queue (``interactive``, ``default``, ``bulk``)."""
        return self._record.priority

    @property
    def location(self) -> str:
        """Where the job runs: the place it was given to (the first acceptable location until
        the scheduler places it, docs/contracts.md § Placement)."""
        return self._record.location

    @property
    def locations(self) -> tuple[str, ...]:
        """The acceptable locations it was submitted with (empty: the spec's location)."""
        return self._record.locations

    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's metadata, carried into every event."""
        return dict(self._record.metadata)

    @property
    def idempotency_key(self) -> str | None:
        """The idempotency key given at submit time, if any."""
        return self._record.idempotency_key

    # -- SDK-shaped properties ------------------------------------------------------------------

    @property
    def state(self) -> SubmissionState:
        """The current state, read again from the job store (like the SDK's ``state``).

        Raises:
            NotFoundError: the record disappeared.
        """
        self.refresh()
        return self._record.state

    @property
    def cached_state(self) -> SubmissionState:
        """The state as last read, without a round trip."""
        return self._record.state

    @property
    def resource_name(self) -> str | None:
        """Full Vertex resource name (``projects/…/batchPredictionJobs/N``), once created."""
        return self._record.job_name or job_str(self._job, "name")

    @property
    def name(self) -> str | None:
        """The Vertex job id (last segment of :attr:`resource_name`), once created."""
        full = self.resource_name
        return full.rsplit("/", 1)[-1] if full else None

    @property
    def display_name(self) -> str | None:
        """The job's display name (from the Vertex resource, else from the request)."""
        return job_str(self._job, "displayName") or spec_value(
            self._record.spec, "job_display_name"
        )

    @property
    def labels(self) -> dict[str, str]:
        """Labels of the job (Vertex's, including ``vbq-submission`` once created; else the
        request's)."""
        job_labels = self._job.get("labels") if self._job else None
        if isinstance(job_labels, dict):
            return {str(k): str(v) for k, v in job_labels.items()}
        return dict(self._record.labels)

    @property
    def create_time(self) -> datetime | None:
        """When Vertex created the job (UTC), or None before that."""
        return job_time(self._job, "createTime")

    @property
    def start_time(self) -> datetime | None:
        """When the job first entered RUNNING (UTC)."""
        return job_time(self._job, "startTime")

    @property
    def end_time(self) -> datetime | None:
        """When the job finished (UTC)."""
        return job_time(self._job, "endTime")

    @property
    def update_time(self) -> datetime | None:
        """When Vertex last updated the job (UTC)."""
        return job_time(self._job, "updateTime")

    @property
    def accepted_time(self) -> datetime:
        """When vbq accepted the submission (UTC, from the store's clock)."""
        return datetime.fromtimestamp(self._record.created_at, tz=UTC)

    @property
    def completion_stats(self) -> dict[str, int] | None:
        """``{successful_count, failed_count, incomplete_count, …}`` as ints (Google sends
        int64 as strings)."""
        return snake_counts(self._job.get("completionStats") if self._job else None)

    @property
    def output_info(self) -> dict[str, Any] | None:
        """Where the output went (``gcs_output_directory`` or ``bigquery_output_dataset`` …)."""
        return snake_dict(self._job.get("outputInfo") if self._job else None)

    @property
    def error(self) -> dict[str, Any] | None:
        """Vertex's error (``code``, ``message``, ``details``) for FAILED/CANCELLED jobs; for a
        REJECTED submission, vbq's reason as ``{"code": None, "message": …}``."""
        raw = snake_dict(self._job.get("error") if self._job else None)
        if raw:
            return raw
        if self._record.state is SubmissionState.REJECTED and self._record.last_error:
            return {"code": None, "message": self._record.last_error}
        return None

    @property
    def partial_failures(self) -> list[dict[str, Any]]:
        """Partial failures reported by Vertex (at most 20 ``Status`` dicts)."""
        raw = self._job.get("partialFailures") if self._job else None
        if not isinstance(raw, list):
            return []
        return [d for d in (snake_dict(item) for item in raw) if d is not None]

    @property
    def encryption_spec(self) -> dict[str, Any] | None:
        """``{"kms_key_name": …}`` when a customer-managed key protects the job."""
        return snake_dict(self._job.get("encryptionSpec") if self._job else None)

    @property
    def job(self) -> dict[str, Any] | None:
        """The last Vertex ``BatchPredictionJob`` resource, as Google returned it (camelCase)."""
        return dict(self._job) if self._job else None

    gca_resource = job
    """Alias of :attr:`job`, the SDK's name for the underlying resource."""

    @property
    def results(self) -> dict[str, Any] | None:
        """What the finished job's outputs held (request counts, token sums ``usage``,
        estimated ``cost``, the parts of a split submission), once read; else None."""
        return dict(self._record.results) if self._record.results else None

    @property
    def usage(self) -> dict[str, int] | None:
        """Token sums of a finished Gemini job (``prompt``, ``candidates``, ``total``, ...)."""
        value = (self._record.results or {}).get("usage")
        return dict(value) if isinstance(value, dict) else None

    # -- methods --------------------------------------------------------------------------------

    def done(self) -> bool:
        """True when the submission finished (reads the store, like the SDK's ``done()``)."""
        return self.state.finished

    def refresh(self) -> Submission:
        """Read the record again from the job store; returns ``self``.

        Raises:
            NotFoundError: the record disappeared.
        """
        self._record = self._fetch(self._record.id)
        return self

    def wait(
        self, timeout_s: float | None = None, poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    ) -> SubmissionState:
        """Block until the submission finishes; returns the final state.

        Unlike the SDK's ``wait_for_completion``, a FAILED or REJECTED outcome is returned, not
        raised: look at :attr:`error`.

        Args:
            timeout_s: give up after this many seconds (None: wait forever).
            poll_interval_s: seconds between reads of the job store.

        Raises:
            TimeoutError: (Python's builtin) ``timeout_s`` passed first.
            NotFoundError: the record disappeared.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            self.refresh()
            if self._record.state.finished:
                return self._record.state
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"submission {self.submission_id} still {self._record.state} "
                        f"after {timeout_s}s"
                    )
                time.sleep(min(poll_interval_s, remaining))
            else:
                time.sleep(poll_interval_s)

    def wait_for_resource_creation(
        self, timeout_s: float | None = None, poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    ) -> str | None:
        """Block until the Vertex job exists (like the SDK's method of that name) or the
        submission finished without one (REJECTED, or CANCELLED before it was sent).

        Returns:
            :attr:`resource_name`, or None when no Vertex job was ever created.

        Raises:
            TimeoutError: (Python's builtin) ``timeout_s`` passed first.
            NotFoundError: the record disappeared.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            self.refresh()
            if self.resource_name or self._record.state.finished:
                return self.resource_name
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"submission {self.submission_id} has no Vertex job after {timeout_s}s "
                    f"(state {self._record.state})"
                )
            remaining = poll_interval_s if deadline is None else deadline - time.monotonic()
            time.sleep(max(0.0, min(poll_interval_s, remaining)))

    def cancel(self) -> None:
        """Ask for cancellation (like the SDK, success is not guaranteed: check ``state``).

        Raises:
            StateConflictError: the submission already finished in another state.
        """
        self._record = self._cancel(self._record.id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view: ids, state, times (RFC 3339), request and the Vertex resource."""
        rec = self._record
        return {
            "submission_id": rec.id,
            "state": rec.state.value,
            "tenant": rec.tenant,
            "priority": rec.priority,
            "resource_name": self.resource_name,
            "display_name": self.display_name,
            "labels": self.labels,
            "metadata": dict(rec.metadata),
            "idempotency_key": rec.idempotency_key,
            "project": rec.project,
            "location": rec.location,
            "locations": list(rec.locations),
            "model": rec.model,
            "attempts": rec.attempts,
            "last_error": rec.last_error,
            "accepted_time": iso_from_epoch(rec.created_at),
            "updated_time": iso_from_epoch(rec.updated_at),
            "submitted_time": iso_from_epoch(rec.submitted_at),
            "finished_time": iso_from_epoch(rec.finished_at),
            "create_time": iso_from_datetime(self.create_time),
            "start_time": iso_from_datetime(self.start_time),
            "end_time": iso_from_datetime(self.end_time),
            "completion_stats": self.completion_stats,
            "output_info": self.output_info,
            "error": self.error,
            "partial_failures": self.partial_failures,
            "request": rec.spec.to_dict(),
            "job": self.job,
            "results": rec.results,
        }

    def __repr__(self) -> str:
        return f"<Submission {self._record.id} {self._record.state.value}>"

    @property
    def _job(self) -> dict[str, Any]:
        return self._record.job or {}
