"""What one submit attempt did (:class:`Outcome`) and the small helpers of the submit path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from vbq.errors import VertexError, VertexRetryableError
from vbq.logs import get_logger
from vbq.spec import SUBMISSION_LABEL

__all__ = [
    "UNSENT_TTL_S",
    "Outcome",
    "error_text",
    "find_job",
    "jobs_of",
    "label_filter",
    "surely_unsent",
    "unsent_key",
]

UNSENT_TTL_S = 24 * 3600

_log = get_logger("vbq.workers.submit")


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one attempt did.

    Attributes:
        action: ``submitted`` (created now), ``adopted`` (found by label), ``noop`` (nothing to
            do), ``retry`` (run again in ``countdown_s`` seconds), ``rejected``, ``cancelled``.
        countdown_s: for ``retry``: seconds until the next attempt (already capped at half the
            visibility timeout).
        reason: why (``rate_limited``, ``no_slot``, ``locked``, the error text, ...).
        job_name: the Vertex job, when one exists.
        cancel_follows: a cancel was requested while the job was being created: the caller
            must enqueue ``vbq.cancel`` (the job exists now and must be cancelled on Vertex).
        keeps_due_mark: final, but the caller must leave ``vbq:submit:due`` alone: the
            submission was queued again and its next dispatch may already have marked it.
    """

    action: Literal["submitted", "adopted", "noop", "retry", "rejected", "cancelled"]
    countdown_s: float = 0.0
    reason: str = ""
    job_name: str | None = None
    cancel_follows: bool = False
    keeps_due_mark: bool = False

    @property
    def final(self) -> bool:
        """True when no further attempt is needed."""
        return self.action != "retry"


def surely_unsent(exc: VertexRetryableError) -> bool:
    """True when the create cannot have been applied: 429/503 answers, or no connection."""
    return exc.status_code in (0, 429, 503)


def find_job(vertex: Any, parent: str, submission_id: str) -> dict[str, Any] | None:
    """The Vertex job labelled with ``submission_id`` (the oldest if several), or None: the
    reconcile before any re-create (one list call).

    Raises:
        VertexError: the list call failed.
    """
    page = vertex.list_batch_prediction_jobs(parent, filter=label_filter(submission_id))
    jobs = [
        j for j in jobs_of(page) if (j.get("labels") or {}).get(SUBMISSION_LABEL) == submission_id
    ]
    if not jobs:
        return None
    jobs.sort(key=lambda j: (str(j.get("createTime", "")), str(j.get("name", ""))))
    if len(jobs) > 1:
        _log.error("submit.duplicate_jobs_found", jobs=[j.get("name") for j in jobs])
    return jobs[0]


def label_filter(submission_id: str) -> str:
    """The Vertex list filter that finds the job of ``submission_id``."""
    return f'labels.{SUBMISSION_LABEL}="{submission_id}"'


def unsent_key(submission_id: str) -> str:
    """``vbq:submit:unsent:{id}``: set only after a create that certainly created nothing,
    deleted before every create."""
    return f"vbq:submit:unsent:{submission_id}"


def error_text(exc: VertexError) -> str:
    """Google's message of ``exc`` (or its text)."""
    return exc.message or str(exc)


def jobs_of(page: Any) -> Iterable[dict[str, Any]]:
    """The jobs of a list page (a dict, a ``ListPage`` or a ``(jobs, token)`` tuple)."""
    if isinstance(page, dict):
        return list(page.get("batchPredictionJobs") or [])
    jobs = getattr(page, "jobs", None)
    if jobs is None:
        jobs = getattr(page, "items", None)
    if jobs is None and isinstance(page, tuple):
        jobs = page[0]
    return list(jobs or [])
