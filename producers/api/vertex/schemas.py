"""OpenAPI shapes of the Google surface (documentation and schemathesis; answers are built by
:mod:`~vbq.producers.api.vertex.render`, requests checked by Google's own message type)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BatchPredictionJobBody",
    "BatchPredictionJobResource",
    "GoogleErrorBody",
    "ListBatchPredictionJobsResponse",
    "Operation",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class GcsSource(_Open):
    uris: list[str] = Field(description="gs:// URIs, wildcards allowed")


class BigQuerySource(_Open):
    inputUri: str = Field(description="bq://project.dataset.table")  # noqa: N815


class InputConfig(_Open):
    instancesFormat: str = Field(description="jsonl, csv, tf-record, bigquery, ...")  # noqa: N815
    gcsSource: GcsSource | None = None  # noqa: N815
    bigquerySource: BigQuerySource | None = None  # noqa: N815


class GcsDestination(_Open):
    outputUriPrefix: str  # noqa: N815


class BigQueryDestination(_Open):
    outputUri: str  # noqa: N815


class OutputConfig(_Open):
    predictionsFormat: str = Field(description="jsonl, csv or bigquery")  # noqa: N815
    gcsDestination: GcsDestination | None = None  # noqa: N815
    bigqueryDestination: BigQueryDestination | None = None  # noqa: N815


class BatchPredictionJobBody(_Open):
    """The create body: Google's ``BatchPredictionJob`` (REST JSON, camelCase)."""

    displayName: str = Field(max_length=128)  # noqa: N815
    model: str = Field(description="projects/…/models/ID or publishers/google/models/NAME")
    inputConfig: InputConfig  # noqa: N815
    outputConfig: OutputConfig  # noqa: N815
    labels: dict[str, str] | None = None
    modelParameters: Any = None  # noqa: N815


class BatchPredictionJobResource(_Open):
    """A job as answered: the body plus ``name``, ``state`` and Vertex's output fields."""

    name: str
    displayName: str | None = None  # noqa: N815
    state: str | int = Field(description="JOB_STATE_* (or its number with enum-encoding=int)")
    createTime: str | None = None  # noqa: N815
    updateTime: str | None = None  # noqa: N815
    completionStats: dict[str, Any] | None = None  # noqa: N815
    outputInfo: dict[str, Any] | None = None  # noqa: N815
    error: dict[str, Any] | None = None


class ListBatchPredictionJobsResponse(_Open):
    batchPredictionJobs: list[BatchPredictionJobResource] = []  # noqa: N815
    nextPageToken: str | None = None  # noqa: N815


class Operation(_Open):
    """A long-running operation (a delete is done when answered)."""

    name: str
    done: bool
    metadata: dict[str, Any] | None = None
    response: dict[str, Any] | None = None


class _ErrorStatus(_Open):
    code: int
    message: str
    status: str
    details: list[dict[str, Any]] = []


class GoogleErrorBody(_Open):
    """``{"error": {"code", "message", "status", "details"}}``."""

    error: _ErrorStatus
