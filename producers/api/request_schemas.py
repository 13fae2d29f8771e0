"""Pydantic models that document the request routes (``/v1/requests``) in ``/openapi.json``.

Bodies are parsed by hand (size and depth limits, then the request checks that name every
field), so the request models are documentation; responses follow ``RequestHandle.to_dict``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RequestBatchBody", "RequestBatchView", "RequestItem", "RequestView"]


class RequestItem(BaseModel):
    """One Gemini request: the model and a ``GenerateContentRequest`` (REST JSON)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="gemini-…, publishers/google/models/gemini-… or a tuned model")
    request: dict[str, Any] = Field(description="GenerateContentRequest: contents, config, ...")
    idempotency_key: str | None = Field(default=None, max_length=256)
    metadata: dict[str, Any] | None = None


class RequestBatchBody(BaseModel):
    """Many requests; with ``atomic`` true, one bad item refuses them all."""

    items: list[RequestItem]
    atomic: bool = False


class RequestView(BaseModel):
    """A request as the API shows it; ``response`` once SUCCEEDED."""

    request_id: str
    state: str
    tenant: str
    model: str
    idempotency_key: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    pack_id: str = ""
    submission_id: str | None = None
    job_name: str | None = None
    accepted_time: str | None = None
    finished_time: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    error: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    response: dict[str, Any] | None = None


class RequestBatchView(BaseModel):
    """Per-item outcome of a batch: accepted items by index, refusals naming each field."""

    accepted: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    atomic: bool = False
