"""Field names of the REST ``BatchPredictionJob`` in errors, the way Google names them.

Google's ``BadRequest.fieldViolations`` name request fields by their proto path from the
request message: ``batch_prediction_job.input_config.gcs_source.uris[1]``. A spec rule names
an SDK parameter (``gcs_source[1]``); :func:`rest_field` translates it, so a refused REST body
points at what the caller sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ROOT",
    "camel_path_to_snake",
    "leaf_mismatches",
    "parse_error_field",
    "rest_field",
    "snake",
]

ROOT = "batch_prediction_job"
"""The request field that carries the job (``CreateBatchPredictionJobRequest``)."""

_SDK_TO_REST: dict[str, str] = {
    "job_display_name": "display_name",
    "model_name": "model",
    "instances_format": "input_config.instances_format",
    "gcs_source": "input_config.gcs_source.uris",
    "bigquery_source": "input_config.bigquery_source.input_uri",
    "predictions_format": "output_config.predictions_format",
    "gcs_destination_prefix": "output_config.gcs_destination.output_uri_prefix",
    "bigquery_destination_prefix": "output_config.bigquery_destination.output_uri",
    "model_parameters": "model_parameters",
    "machine_type": "dedicated_resources.machine_spec.machine_type",
    "accelerator_type": "dedicated_resources.machine_spec.accelerator_type",
    "accelerator_count": "dedicated_resources.machine_spec.accelerator_count",
    "starting_replica_count": "dedicated_resources.starting_replica_count",
    "max_replica_count": "dedicated_resources.max_replica_count",
    "batch_size": "manual_batch_tuning_parameters.batch_size",
    "generate_explanation": "generate_explanation",
    "explanation_metadata": "explanation_spec.metadata",
    "explanation_parameters": "explanation_spec.parameters",
    "labels": "labels",
    "encryption_spec_key_name": "encryption_spec.kms_key_name",
    "service_account": "service_account",
    "model_monitoring_objective_config": "model_monitoring_config.objective_configs[0]",
    "model_monitoring_alert_config": "model_monitoring_config.alert_config",
    "analysis_instance_schema_uri": "model_monitoring_config.analysis_instance_schema_uri",
}
# Parameters that come from the request URL, not the body.
_FROM_PARENT = {"project", "location"}
_HEAD_RE = re.compile(r"^([A-Za-z_]+)(.*)$", re.DOTALL)
_CAMEL_RE = re.compile(r"(?<!^)([A-Z])")


def snake(name: str) -> str:
    """``gcsSource`` → ``gcs_source`` (names already in snake_case are kept)."""
    return _CAMEL_RE.sub(r"_\1", name).lower()


def camel_path_to_snake(path: str) -> str:
    """``inputConfig.gcsSource.uris`` → ``batch_prediction_job.input_config.gcs_source.uris``;
    map keys under ``labels`` and ``model_parameters`` keep their spelling."""
    parts = path.split(".") if path else []
    out: list[str] = []
    for index, part in enumerate(parts):
        keep = index > 0 and snake(parts[0]) in {"labels", "model_parameters"}
        out.append(part if keep else snake(part))
    return ".".join([ROOT, *out])


def rest_field(sdk_field: str) -> str:
    """The REST path of a spec rule's field (``gcs_source[1]`` →
    ``batch_prediction_job.input_config.gcs_source.uris[1]``; ``project`` → ``parent``)."""
    match = _HEAD_RE.match(sdk_field)
    if match is None:
        return ROOT
    head, rest = match.groups()
    if head in _FROM_PARENT:
        return "parent"
    if head == "spec":
        return ROOT
    mapped = _SDK_TO_REST.get(head)
    if mapped is None:
        return f"{ROOT}.{sdk_field}"
    return f"{ROOT}.{mapped}{rest}"


def parse_error_field(message: str) -> tuple[str, str]:
    """``(field, description)`` of a protobuf ``json_format.ParseError`` message.

    The parser reports nested failures as ``Failed to parse inputConfig field: Failed to parse
    uris field: ... at BatchPredictionJob.inputConfig.gcsSource.`` and unknown names as
    ``... has no field named "x" at "BatchPredictionJob.inputConfig"``; this turns them into
    Google's field path and message.
    """
    names = re.findall(r"Failed to parse (\w+) field", message)
    where = re.search(r'at "?BatchPredictionJob((?:\.\w+)*)', message)
    path = where.group(1).strip(".").split(".") if where and where.group(1) else []
    unknown = re.search(r'has no field named "([^"]+)"', message)
    if unknown:
        parent = camel_path_to_snake(".".join(path or names))
        name = unknown.group(1)
        return (
            f"{parent}.{snake(name)}",
            f"Invalid JSON payload received. Unknown name {name!r} at {parent!r}: "
            "Cannot find field.",
        )
    if not path:
        path = names
    elif names and path[-1] != names[-1]:
        path.append(names[-1])
    field = camel_path_to_snake(".".join(path))
    reason = message.split(" at ", maxsplit=1)[0].rsplit("field: ", 1)[-1].strip().rstrip(".")
    reason = reason.splitlines()[0][:200] if reason else "invalid value"
    return field, f"Invalid value at {field!r}: {reason}"


def leaf_mismatches(
    sent: Mapping[str, Any], resolved: Mapping[str, Any], *, whole: frozenset[str]
) -> list[tuple[str, Any, Any]]:
    """``(camel path, sent value, resolved value)`` for every leaf of ``sent`` that
    ``resolved`` does not carry with the same value (top-level keys in ``whole`` compare as
    one value). Leaves only in ``resolved`` (vbq's defaults) are not reported."""
    out: list[tuple[str, Any, Any]] = []

    def walk(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str) -> None:
        for key, value in a.items():
            path = f"{prefix}.{key}" if prefix else key
            other = b.get(key) if isinstance(b, Mapping) else None
            if isinstance(value, Mapping) and value and not (not prefix and key in whole):
                walk(value, other if isinstance(other, Mapping) else {}, path)
            elif value != other and not _empty(value):
                out.append((path, value, other))

    walk(sent, resolved, "")
    return out


def _empty(value: Any) -> bool:
    return value in ({}, [], "", None)
