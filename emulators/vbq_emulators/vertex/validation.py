"""Checks a create body the way Vertex does, and returns it in canonical camelCase.

Every refusal is a 400 INVALID_ARGUMENT :class:`~vbq_emulators.errors.ApiError` whose message names
the field (``batch_prediction_job.input_config.gcs_source.uris``) as Google's messages do.
Unknown fields are refused like Google's JSON parser refuses them
(``Invalid JSON payload received. Unknown name "x" at 'batch_prediction_job': Cannot find
field.``). Output-only fields (``state``, ``name``, ...) are accepted and ignored.

The emulator also accepts ``file://`` URIs and absolute paths as sources and destinations so
it can run without a storage emulator; Google accepts ``gs://`` only.
"""

from __future__ import annotations

import re
from typing import Any

from vbq_emulators.vertex.wire import ACCELERATOR_TYPES, api_error

__all__ = ["INPUT_FORMATS", "OUTPUT_FORMATS", "is_gemini_model", "validate_create_body"]

INPUT_FORMATS = frozenset({"jsonl", "csv", "tf-record", "tf-record-gzip", "bigquery", "file-list"})
OUTPUT_FORMATS = frozenset({"jsonl", "csv", "bigquery"})

_LEAF = None
# The writable fields of BatchPredictionJob (aiplatform_v1/types/batch_prediction_job.py);
# None marks a leaf whose inner shape Google checks elsewhere (free JSON, maps, nested specs).
_SCHEMA: dict[str, Any] = {
    "displayName": _LEAF,
    "model": _LEAF,
    "unmanagedContainerModel": _LEAF,
    "inputConfig": {
        "gcsSource": {"uris": _LEAF},
        "bigquerySource": {"inputUri": _LEAF},
        "vertexMultimodalDatasetSource": {"datasetName": _LEAF},
        "instancesFormat": _LEAF,
    },
    "instanceConfig": {
        "instanceType": _LEAF,
        "keyField": _LEAF,
        "includedFields": _LEAF,
        "excludedFields": _LEAF,
    },
    "modelParameters": _LEAF,
    "outputConfig": {
        "gcsDestination": {"outputUriPrefix": _LEAF},
        "bigqueryDestination": {"outputUri": _LEAF},
        "vertexMultimodalDatasetDestination": _LEAF,
        "predictionsFormat": _LEAF,
    },
    "dedicatedResources": {
        "machineSpec": {
            "machineType": _LEAF,
            "acceleratorType": _LEAF,
            "acceleratorCount": _LEAF,
            "gpuPartitionSize": _LEAF,
            "tpuTopology": _LEAF,
            "reservationAffinity": _LEAF,
        },
        "startingReplicaCount": _LEAF,
        "maxReplicaCount": _LEAF,
    },
    "serviceAccount": _LEAF,
    "manualBatchTuningParameters": {"batchSize": _LEAF},
    "generateExplanation": _LEAF,
    "explanationSpec": _LEAF,
    "labels": _LEAF,
    "encryptionSpec": {"kmsKeyName": _LEAF},
    "disableContainerLogging": _LEAF,
}
_OUTPUT_ONLY = frozenset(
    {
        "name",
        "modelVersionId",
        "outputInfo",
        "state",
        "error",
        "partialFailures",
        "resourcesConsumed",
        "completionStats",
        "createTime",
        "startTime",
        "endTime",
        "updateTime",
        "satisfiesPzs",
        "satisfiesPzi",
        "modelMonitoringStatsAnomalies",
        "modelMonitoringStatus",
    }
)
_V1BETA1_ONLY: dict[str, Any] = {"modelMonitoringConfig": _LEAF}

_MODEL_RE = re.compile(
    r"^(projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"(models/[^/@]+|publishers/[^/]+/models/[^/@]+)(@[A-Za-z0-9_\-]+)?$"
)
_MAX_LABELS = 64
_MAX_LABEL_CHARS = 63


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _bad(field: str, message: str) -> Exception:
    return api_error(400, f"{message} (field: {field})")


def is_gemini_model(model: str) -> bool:
    """True for ``publishers/google/models/gemini-*`` (optionally under projects/locations)."""
    return "/publishers/google/models/gemini" in f"/{model}"


def _clean(value: Any, schema: dict[str, Any], where: str, *, top: bool) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise api_error(400, f"Invalid value at '{where}': expected an object")
    out: dict[str, Any] = {}
    for raw_key, item in value.items():
        key = _camel(raw_key)
        if top and key in _OUTPUT_ONLY:
            continue
        if key not in schema:
            raise api_error(
                400,
                f'Invalid JSON payload received. Unknown name "{raw_key}" at '
                f"'{where}': Cannot find field.",
            )
        sub = schema[key]
        out[key] = _clean(item, sub, f"{where}.{_snake(key)}", top=False) if sub else item
    return out


def validate_create_body(
    body: Any, *, project: str, location: str, api_version: str = "v1"
) -> dict[str, Any]:
    """Check a create body; return its writable fields in camelCase.

    Args:
        body: the parsed JSON body of the create call.
        project: the project of the URL's parent.
        location: the location of the URL's parent.
        api_version: ``v1`` or ``v1beta1`` (the latter allows model monitoring fields).

    Raises:
        ApiError: 400 INVALID_ARGUMENT naming the first bad field.
    """
    schema = {**_SCHEMA, **(_V1BETA1_ONLY if api_version == "v1beta1" else {})}
    job = _clean(body, schema, "batch_prediction_job", top=True)
    name = job.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise _bad("batch_prediction_job.display_name", "display_name is required")
    if len(name) > 128:
        raise _bad("batch_prediction_job.display_name", "display_name is longer than 128")
    _check_model(job, location)
    _check_input(job.get("inputConfig"))
    _check_output(job.get("outputConfig"))
    _check_labels(job.get("labels"))
    if "modelParameters" in job and job["modelParameters"] is None:
        del job["modelParameters"]
    resources = job.get("dedicatedResources")
    if resources is not None:
        machine = resources.get("machineSpec") or {}
        where = "batch_prediction_job.dedicated_resources.machine_spec"
        if not machine.get("machineType"):
            raise _bad(f"{where}.machine_type", "machine_type is required with dedicated_resources")
        accelerator = machine.get("acceleratorType", "ACCELERATOR_TYPE_UNSPECIFIED")
        if accelerator not in ACCELERATOR_TYPES:
            raise _bad(f"{where}.accelerator_type", f"unknown accelerator type {accelerator!r}")
    return job


def _check_model(job: dict[str, Any], location: str) -> None:
    model = job.get("model")
    container = job.get("unmanagedContainerModel")
    if model and container:
        raise _bad("batch_prediction_job.model", "set model or unmanaged_container_model, not both")
    if container is not None:
        if not isinstance(container, dict) or not container.get("containerSpec"):
            raise _bad(
                "batch_prediction_job.unmanaged_container_model.container_spec",
                "container_spec is required",
            )
        return
    if not isinstance(model, str) or not model:
        raise _bad("batch_prediction_job.model", "model or unmanaged_container_model is required")
    match = _MODEL_RE.match(model)
    if not match or (model.startswith("models/")):
        raise _bad("batch_prediction_job.model", f"invalid model resource name {model!r}")
    model_location = match.group("location")
    if model_location and model_location != location and "/publishers/" not in model:
        raise _bad(
            "batch_prediction_job.model",
            f"model location {model_location} differs from the job location {location}",
        )


def _one_of(config: dict[str, Any], keys: tuple[str, ...], field: str, what: str) -> str:
    present = [k for k in keys if config.get(k)]
    if len(present) != 1:
        raise _bad(field, f"exactly one {what} is required, got {len(present)}")
    return present[0]


def _uri_ok(uri: Any, *, allow_wildcard: bool) -> bool:
    if not isinstance(uri, str) or not uri:
        return False
    if uri.startswith("gs://"):
        bucket, _, obj = uri[5:].partition("/")
        return bool(bucket) and "*" not in bucket and (allow_wildcard or "*" not in obj)
    return uri.startswith(("file://", "/"))


def _check_input(config: Any) -> None:
    field = "batch_prediction_job.input_config"
    if not isinstance(config, dict):
        raise _bad(field, "input_config is required")
    fmt = config.get("instancesFormat")
    if fmt not in INPUT_FORMATS:
        raise _bad(
            f"{field}.instances_format",
            f"instances_format must be one of {sorted(INPUT_FORMATS)}, got {fmt!r}",
        )
    source = _one_of(
        config,
        ("gcsSource", "bigquerySource", "vertexMultimodalDatasetSource"),
        f"{field}.source",
        "input source",
    )
    if source == "gcsSource":
        uris = config["gcsSource"].get("uris")
        if not isinstance(uris, list) or not uris:
            raise _bad(f"{field}.gcs_source.uris", "at least one uri is required")
        for uri in uris:
            if not _uri_ok(uri, allow_wildcard=True):
                raise _bad(f"{field}.gcs_source.uris", f"invalid Cloud Storage uri {uri!r}")
        if fmt == "bigquery":
            raise _bad(f"{field}.instances_format", "bigquery format needs a bigquery_source")
    elif source == "bigquerySource":
        uri = config["bigquerySource"].get("inputUri")
        if not isinstance(uri, str) or not uri.startswith("bq://"):
            raise _bad(f"{field}.bigquery_source.input_uri", "input_uri must start with bq://")
        if fmt != "bigquery":
            raise _bad(f"{field}.instances_format", "a bigquery_source needs format bigquery")


def _check_output(config: Any) -> None:
    field = "batch_prediction_job.output_config"
    if not isinstance(config, dict):
        raise _bad(field, "output_config is required")
    fmt = config.get("predictionsFormat")
    if fmt not in OUTPUT_FORMATS:
        raise _bad(
            f"{field}.predictions_format",
            f"predictions_format must be one of {sorted(OUTPUT_FORMATS)}, got {fmt!r}",
        )
    dest = _one_of(
        config,
        ("gcsDestination", "bigqueryDestination", "vertexMultimodalDatasetDestination"),
        f"{field}.destination",
        "output destination",
    )
    if dest == "gcsDestination":
        prefix = config["gcsDestination"].get("outputUriPrefix")
        if not _uri_ok(prefix, allow_wildcard=False):
            raise _bad(
                f"{field}.gcs_destination.output_uri_prefix",
                f"invalid Cloud Storage uri {prefix!r}",
            )
        if fmt == "bigquery":
            raise _bad(
                f"{field}.predictions_format", "bigquery format needs a bigquery_destination"
            )
    elif dest == "bigqueryDestination":
        uri = config["bigqueryDestination"].get("outputUri")
        if not isinstance(uri, str) or not uri.startswith("bq://"):
            raise _bad(f"{field}.bigquery_destination.output_uri", "output_uri must start bq://")
        if fmt != "bigquery":
            raise _bad(f"{field}.predictions_format", "a bigquery_destination needs bigquery")


def _label_chars_ok(text: str) -> bool:
    return all(c in "_-" or c.isdigit() or (c.isalpha() and c == c.lower()) for c in text)


def _check_labels(labels: Any) -> None:
    field = "batch_prediction_job.labels"
    if labels is None:
        return
    if not isinstance(labels, dict):
        raise _bad(field, "labels must be a map of strings")
    if len(labels) > _MAX_LABELS:
        raise _bad(field, f"at most {_MAX_LABELS} labels are allowed, got {len(labels)}")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise _bad(f"{field}.{key}", "label values must be strings")
        if not key or len(key) > _MAX_LABEL_CHARS or not _label_chars_ok(key):
            raise _bad(
                f"{field}.{key}",
                "label keys have 1-63 lowercase letters, digits, '_' or '-'",
            )
        if not (key[0].isalpha() and key[0] == key[0].lower()):
            raise _bad(f"{field}.{key}", "label keys must start with a lowercase letter")
        if len(value) > _MAX_LABEL_CHARS or not _label_chars_ok(value):
            raise _bad(
                f"{field}.{key}",
                "label values have at most 63 lowercase letters, digits, '_' or '-'",
            )
