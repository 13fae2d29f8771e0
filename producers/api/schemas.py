"""Pydantic models that document the HTTP API in ``/openapi.json``.

Requests are parsed by hand (size and depth limits first, then :class:`vbq.spec.JobSpec`, which
names the SDK field and rule of every error), so the request models here are documentation;
responses are validated against them. :data:`SubmissionRequest` is built from the spec's one
parameter list (:func:`vbq.spec.parameters.api_fields`): a parameter added there is documented
here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from vbq.spec.parameters import api_fields

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


def _sdk_fields() -> dict[str, Any]:
    """One pydantic field per accepted ``submit()`` parameter, from the spec's one list."""
    out: dict[str, Any] = {}
    for item in api_fields():
        default = ... if item.required else item.default
        out[item.name] = (
            item.json_type,
            Field(default, description=item.description, max_length=item.max_chars),
        )
    return out


SubmissionRequest: type[BaseModel] = create_model(
    "SubmissionRequest",
    __config__=ConfigDict(extra="allow"),
    __doc__=(
        "One job request: the keyword arguments of ``BatchPredictionJob.submit()`` plus\n"
        "``idempotency_key``, ``metadata``, ``priority`` and ``locations``. The tenant comes\n"
        "from the API key."
    ),
    **_sdk_fields(),
    idempotency_key=(
        str | None,
        Field(
            default=None,
            max_length=256,
            description="Same key (per tenant) -> same submission; replays answer 200.",
        ),
    ),
    metadata=(
        dict[str, Any] | None,
        Field(default=None, description="Free JSON carried into every event of the job."),
    ),
    priority=(
        str | None,
        Field(
            default=None,
            description="interactive, default or bulk: order within the tenant's queue.",
        ),
    ),
    locations=(
        list[str] | None,
        Field(
            default=None,
            description="Acceptable locations; the job runs where capacity is free first.",
        ),
    ),
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
    priority: str = "default"
    resource_name: str | None = None
    display_name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    project: str = ""
    location: str = ""
    locations: list[str] = Field(default_factory=list)
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
    results: dict[str, Any] | None = None


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
