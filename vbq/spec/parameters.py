"""The parameters of ``BatchPredictionJob.submit()``: the one list every layer derives from.

:class:`JobParameters` holds every parameter vbq accepts, in its canonical stored form, with
the SDK's default and a description; :data:`REJECTED_PARAMETERS` names the SDK parameters that
mean nothing in a queue. :class:`~vbq.spec.JobSpec` is :class:`JobParameters` plus behaviour,
:func:`~vbq.spec.validate.validate` checks keys against :data:`SDK_PARAMETERS`, and the HTTP API
builds its request schema from :func:`api_fields` (so ``/openapi.json`` documents each one).

The SDK's own signature and texts: /work/shared/reference/BatchPredictionJob-sdk.md
(google-cloud-aiplatform ``jobs.BatchPredictionJob.submit``).
"""

from __future__ import annotations

import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NamedTuple

__all__ = [
    "INPUT_FORMATS",
    "MAX_DISPLAY_NAME_CHARS",
    "OUTPUT_FORMATS",
    "REJECTED_PARAMETERS",
    "SDK_PARAMETERS",
    "ApiField",
    "JobParameters",
    "api_fields",
]

# constants.BATCH_PREDICTION_INPUT_STORAGE_FORMATS / ..._OUTPUT_STORAGE_FORMATS of the SDK.
INPUT_FORMATS = ("jsonl", "csv", "tf-record", "tf-record-gzip", "bigquery", "file-list")
OUTPUT_FORMATS = ("jsonl", "csv", "bigquery")
MAX_DISPLAY_NAME_CHARS = 128


def _about(doc: str, *, json: Any = None, max_chars: int | None = None) -> dict[str, Any]:
    """Field metadata: the description, and the JSON-side type when it differs from the
    stored one (``json``) or a length limit the API schema states (``max_chars``)."""
    return {"doc": doc, "json": json, "max_chars": max_chars}


@dataclass(frozen=True, kw_only=True)
class JobParameters:
    """The ``submit()`` parameters vbq accepts, stored in canonical form (see ``JobSpec``)."""

    model_name: str = field(
        metadata=_about(
            "Required. Model resource name (projects/P/locations/L/models/M[@version]), model "
            "id, or publisher model (publishers/google/models/gemini-...). The job runs in the "
            "model's region."
        )
    )
    job_display_name: str | None = field(
        default=None,
        metadata=_about(
            "Up to 128 characters. Default: 'BatchPredictionJob <first 16 hex of the spec's "
            "fingerprint>' (deterministic, so a retried create is identical).",
            max_chars=MAX_DISPLAY_NAME_CHARS,
        ),
    )
    instances_format: str = field(
        default="jsonl",
        metadata=_about(
            "Format of the instances: " + ", ".join(INPUT_FORMATS) + " ('bigquery' with a "
            "BigQuery source)."
        ),
    )
    predictions_format: str = field(
        default="jsonl",
        metadata=_about(
            "Format of the predictions: " + ", ".join(OUTPUT_FORMATS) + " ('bigquery' with a "
            "BigQuery destination)."
        ),
    )
    gcs_source: tuple[str, ...] | None = field(
        default=None,
        metadata=_about(
            "gs:// URI(s) of the instances, at most 1000 (wildcards allowed). Exactly one of "
            "gcs_source and bigquery_source.",
            json=str | list[str] | None,
        ),
    )
    bigquery_source: str | None = field(
        default=None,
        metadata=_about("BigQuery table of the instances: bq://project.dataset.table."),
    )
    gcs_destination_prefix: str | None = field(
        default=None,
        metadata=_about(
            "gs:// directory the predictions are written under. Exactly one of "
            "gcs_destination_prefix and bigquery_destination_prefix."
        ),
    )
    bigquery_destination_prefix: str | None = field(
        default=None,
        metadata=_about("BigQuery project or dataset for the predictions (bq:// optional)."),
    )
    model_parameters: Any = field(
        default=None,
        metadata=_about(
            "Parameters that govern the predictions (the model's parameters schema).",
            json=dict[str, Any] | None,
        ),
    )
    machine_type: str | None = field(
        default=None,
        metadata=_about(
            "Machine type for dedicated resources, like 'n1-standard-4'; without it the job "
            "uses automatic resources."
        ),
    )
    accelerator_type: str | None = field(
        default=None,
        metadata=_about("An AcceleratorType like 'NVIDIA_TESLA_T4'; needs machine_type."),
    )
    accelerator_count: int | None = field(
        default=None, metadata=_about("Accelerators per replica; needs accelerator_type.")
    )
    starting_replica_count: int | None = field(
        default=None, metadata=_about("Replicas at the start; needs machine_type.")
    )
    max_replica_count: int | None = field(
        default=None,
        metadata=_about(
            "Most replicas to scale to (>= starting_replica_count); needs machine_type."
        ),
    )
    generate_explanation: bool = field(
        default=False,
        metadata=_about("Add explanations to the predictions.", json=bool | None),
    )
    explanation_metadata: dict[str, Any] | None = field(
        default=None,
        metadata=_about(
            "ExplanationMetadata (JSON, camelCase or snake_case); needs generate_explanation."
        ),
    )
    explanation_parameters: dict[str, Any] | None = field(
        default=None,
        metadata=_about("ExplanationParameters (JSON); needs generate_explanation."),
    )
    labels: dict[str, str] | None = field(
        default=None,
        metadata=_about(
            "Job labels (at most 63): keys and values of up to 63 lowercase letters, digits, "
            "'_' and '-' (international letters allowed); keys starting 'vbq-' are reserved."
        ),
    )
    project: str | None = field(
        default=None, metadata=_about("Project of the job. Default: VBQ_PROJECT.")
    )
    location: str | None = field(
        default=None,
        metadata=_about("Region of the job. Default: the model's region, else VBQ_LOCATION."),
    )
    encryption_spec_key_name: str | None = field(
        default=None,
        metadata=_about(
            "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) in the job's region."
        ),
    )
    create_request_timeout: float | None = field(
        default=None, metadata=_about("Timeout of the create request in seconds (at most 3600).")
    )
    batch_size: int | None = field(
        default=None,
        metadata=_about("Records per batch sent to a machine replica; needs machine_type."),
    )
    model_monitoring_objective_config: dict[str, Any] | None = field(
        default=None,
        metadata=_about("Model monitoring ObjectiveConfig (JSON); turns monitoring on."),
    )
    model_monitoring_alert_config: dict[str, Any] | None = field(
        default=None,
        metadata=_about(
            "Model monitoring alert config (JSON, e-mail alerts); needs an objective config."
        ),
    )
    analysis_instance_schema_uri: str | None = field(
        default=None,
        metadata=_about(
            "gs:// YAML schema of one instance for monitoring; needs an objective config."
        ),
    )
    service_account: str | None = field(
        default=None, metadata=_about("Service account e-mail the job runs as.")
    )


# SDK parameters that have no meaning in a queue: refused (unless None) with the reason.
REJECTED_PARAMETERS: dict[str, str] = {
    "credentials": "not accepted: workers use Application Default Credentials",
    "sync": "not accepted: a queued job is always submitted asynchronously; use wait()",
}

SDK_PARAMETERS: tuple[str, ...] = (
    *(item.name for item in fields(JobParameters)),
    *REJECTED_PARAMETERS,
)
"""Every keyword parameter of ``BatchPredictionJob.submit()``, accepted or refused."""


class ApiField(NamedTuple):
    """One accepted parameter as the HTTP API documents it.

    Attributes:
        name: the parameter.
        json_type: the Python type of its JSON form (what a request may send).
        required: no default: the request must give it.
        default: the SDK's default (None when ``required``).
        description: what it is and the rules vbq checks.
        max_chars: longest text allowed, when the API schema states it.
    """

    name: str
    json_type: Any
    required: bool
    default: Any
    description: str
    max_chars: int | None


def api_fields() -> list[ApiField]:
    """The accepted parameters (in :class:`JobParameters` order) as the API documents them."""
    hints = typing.get_type_hints(JobParameters)
    return [
        ApiField(
            name=item.name,
            json_type=item.metadata["json"] or hints[item.name],
            required=item.default is MISSING,
            default=None if item.default is MISSING else item.default,
            description=item.metadata["doc"],
            max_chars=item.metadata["max_chars"],
        )
        for item in fields(JobParameters)
    ]
