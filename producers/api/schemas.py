"""Pydantic models that document the HTTP API in ``/openapi.json``.

Requests are parsed by hand (size and depth limits first, then :class:`vbq.spec.JobSpec`, which
names the SDK field and rule of every error), so the request models here are documentation;
responses are validated against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BatchItemError",
    "BatchItemResult",
    "BatchRequest",
    "BatchResponse",
    "ProblemDetails",
    "ProblemItem",
    "SubmissionList",
    "SubmissionRequest",
    "SubmissionView",
]


class SubmissionRequest(BaseModel):
    """One job request: the keyword arguments of ``BatchPredictionJob.submit()`` plus
    ``idempotency_key`` and ``metadata``. The tenant comes from the API key."""

    model_config = ConfigDict(extra="allow")

    job_display_name: str | None = Field(default=None, max_length=128)
    model_name: str = Field(description="Model resource name, model id, or publisher model.")
    instances_format: str = "jsonl"
    predictions_format: str = "jsonl"
    gcs_source: str | list[str] | None = None
    bigquery_source: str | None = None
    gcs_destination_prefix: str | None = None
    bigquery_destination_prefix: str | None = None
    model_parameters: dict[str, Any] | None = None
    machine_type: str | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None
    starting_replica_count: int | None = None
    max_replica_count: int | None = None
    generate_explanation: bool | None = False
    explanation_metadata: dict[str, Any] | None = None
    explanation_parameters: dict[str, Any] | None = None
    labels: dict[str, str] | None = None
    project: str | None = None
    location: str | None = None
    encryption_spec_key_name: str | None = None
    create_request_timeout: float | None = None
    batch_size: int | None = None
    model_monitoring_objective_config: dict[str, Any] | None = None
    model_monitoring_alert_config: dict[str, Any] | None = None
    analysis_instance_schema_uri: str | None = None
    service_account: str | None = None
    idempotency_key: str | None = Field(
        default=None,
        max_length=256,
        description="Same key (per tenant) -> same submission; replays answer 200.",
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="Free JSON carried into every event of the job."
    )


class BatchRequest(BaseModel):
    """Many job requests in one call."""

    items: list[SubmissionRequest]
    atomic: bool = Field(
        default=False, description="If any item is invalid, store none (answer 422)."
    )


class SubmissionView(BaseModel):
    """A submission as the API shows it (``Submission.to_dict()``)."""

    submission_id: str
    state: str
    tenant: str
    resource_name: str | None = None
    display_name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    project: str = ""
    location: str = ""
    model: str | None = None
    attempts: int = 0
    last_error: str | None = None
    accepted_time: str | None = None
    updated_time: str | None = None
    submitted_time: str | None = None
    finished_time: str | None = None
    create_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    completion_stats: dict[str, int] | None = None
    output_info: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    partial_failures: list[dict[str, Any]] = Field(default_factory=list)
    request: dict[str, Any] = Field(default_factory=dict)
    job: dict[str, Any] | None = None


class SubmissionList(BaseModel):
    """One page of submissions, newest first."""

    submissions: list[SubmissionView]
    next_page_token: str | None = None


class ProblemItem(BaseModel):
    """One broken rule."""

    field: str
    rule: str
    message: str


class BatchItemResult(BaseModel):
    """One stored item of a batch."""

    index: int
    submission_id: str
    created: bool
    state: str


class BatchItemError(BaseModel):
    """One refused item of a batch."""

    index: int
    fields: list[str]
    message: str
    errors: list[ProblemItem]


class BatchResponse(BaseModel):
    """Per-item outcome of a batch, by input index."""

    ok: bool
    atomic: bool
    accepted: list[BatchItemResult]
    errors: list[BatchItemError]


class ProblemDetails(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = None
