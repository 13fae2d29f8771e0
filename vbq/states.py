"""Vertex AI job states and vbq submission states.

Vertex's ``JobState`` enum (``google.cloud.aiplatform.v1.JobState``) travels as an integer
with ``$alt=json;enum-encoding=int`` and as a ``JOB_STATE_*`` name otherwise; both are
accepted by :func:`parse_job_state`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = [
    "FINISHED_SUBMISSION_STATES",
    "FINISHED_VERTEX_STATES",
    "JobState",
    "SubmissionState",
    "event_type_for",
    "parse_job_state",
]


class JobState(IntEnum):
    """Vertex AI ``JobState``, numbered as in ``aiplatform_v1/types/job_state.py``."""

    JOB_STATE_UNSPECIFIED = 0
    JOB_STATE_QUEUED = 1
    JOB_STATE_PENDING = 2
    JOB_STATE_RUNNING = 3
    JOB_STATE_SUCCEEDED = 4
    JOB_STATE_FAILED = 5
    JOB_STATE_CANCELLING = 6
    JOB_STATE_CANCELLED = 7
    JOB_STATE_PAUSED = 8
    JOB_STATE_EXPIRED = 9
    JOB_STATE_UPDATING = 10
    JOB_STATE_PARTIALLY_SUCCEEDED = 11

    @property
    def short(self) -> str:
        """The name without the ``JOB_STATE_`` prefix (``SUCCEEDED``)."""
        return self.name.removeprefix("JOB_STATE_")

    @property
    def finished(self) -> bool:
        """True for the five states a job never leaves."""
        return self in FINISHED_VERTEX_STATES


FINISHED_VERTEX_STATES: frozenset[JobState] = frozenset(
    {
        JobState.JOB_STATE_SUCCEEDED,
        JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
        JobState.JOB_STATE_FAILED,
        JobState.JOB_STATE_CANCELLED,
        JobState.JOB_STATE_EXPIRED,
    }
)


def parse_job_state(value: object) -> JobState:
    """Parse a wire ``state``: an int, a digit string, ``JOB_STATE_X`` or ``X``.

    Raises:
        ValueError: the value names no known state.
    """
    if isinstance(value, JobState):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return JobState(value)
    if isinstance(value, str):
        text = value.strip().upper()
        if text.isdigit():
            return JobState(int(text))
        if not text.startswith("JOB_STATE_"):
            text = "JOB_STATE_" + text
        try:
            return JobState[text]
        except KeyError:
            pass
    raise ValueError(f"unknown job state {value!r}")


class SubmissionState(StrEnum):
    """State of one submission in the job store (docs/architecture.md § Submission states).

    ``ACCEPTED → SUBMITTING → SUBMITTED`` then mirrors Vertex (``QUEUED``, ``PENDING``,
    ``RUNNING``, ``CANCELLING``, ...) up to a finished Vertex state; or ``REJECTED`` (Google
    refused it for good, or the retry budget ran out) or ``CANCELLED`` before it was sent.
    """

    ACCEPTED = "ACCEPTED"
    SUBMITTING = "SUBMITTING"
    SUBMITTED = "SUBMITTED"
    QUEUED = "QUEUED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    PAUSED = "PAUSED"
    UPDATING = "UPDATING"
    SUCCEEDED = "SUCCEEDED"
    PARTIALLY_SUCCEEDED = "PARTIALLY_SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"

    @classmethod
    def from_job_state(cls, state: JobState) -> SubmissionState:
        """Mirror a Vertex state (``JOB_STATE_UNSPECIFIED`` maps to ``SUBMITTED``)."""
        if state is JobState.JOB_STATE_UNSPECIFIED:
            return cls.SUBMITTED
        return cls(state.short)

    @property
    def finished(self) -> bool:
        """True when the submission will never change state again."""
        return self in FINISHED_SUBMISSION_STATES


FINISHED_SUBMISSION_STATES: frozenset[SubmissionState] = frozenset(
    {
        SubmissionState.SUCCEEDED,
        SubmissionState.PARTIALLY_SUCCEEDED,
        SubmissionState.FAILED,
        SubmissionState.CANCELLED,
        SubmissionState.EXPIRED,
        SubmissionState.REJECTED,
    }
)

_EVENT_TYPES: dict[SubmissionState, str] = {
    SubmissionState.SUBMITTED: "job.submitted",
    SubmissionState.QUEUED: "job.queued",
    SubmissionState.PENDING: "job.pending",
    SubmissionState.RUNNING: "job.running",
    SubmissionState.CANCELLING: "job.cancelling",
    SubmissionState.PAUSED: "job.paused",
    SubmissionState.UPDATING: "job.updating",
    SubmissionState.SUCCEEDED: "job.succeeded",
    SubmissionState.PARTIALLY_SUCCEEDED: "job.partially_succeeded",
    SubmissionState.FAILED: "job.failed",
    SubmissionState.CANCELLED: "job.cancelled",
    SubmissionState.EXPIRED: "job.expired",
    SubmissionState.REJECTED: "job.rejected",
}


def event_type_for(state: SubmissionState) -> str | None:
    """The event type published when a submission enters ``state`` (None: no event)."""
    return _EVENT_TYPES.get(state)
