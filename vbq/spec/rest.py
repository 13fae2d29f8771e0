"""A REST ``BatchPredictionJob`` (the body of ``batchPredictionJobs.create``) as a job spec.

Google's SDKs send the job as REST JSON; vbq queues :class:`~vbq.spec.JobSpec`, the
arguments of ``BatchPredictionJob.submit()``. :func:`spec_from_rest` maps one to the other:

1. The body must fit Google's own message type (``json_format.ParseDict``, unknown fields
   refused): a refusal names the field as Google does (``batch_prediction_job.input_config``).
2. Output-only fields (``name``, ``state``, ``createTime``, ...) are then dropped, as Google
   ignores them in a create.
3. The message is mapped back to SDK keyword arguments (:func:`sdk_kwargs_from_message`) and
   validated by the spec's rules; their field names are translated to REST paths.
4. The spec's own create body must carry every value the caller sent: a field vbq cannot
   reproduce (``instanceConfig``, ``unmanagedContainerModel``, a bare model ID, a second
   monitoring objective) is refused, naming it, instead of being silently dropped.

Every refusal is a :class:`~vbq.errors.SpecError` whose fields are REST paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from vbq.errors import SpecError
from vbq.spec.model import JobSpec
from vbq.spec.problems import Problems, shown
from vbq.spec.protos import ApiVersion, message_class
from vbq.spec.resolved import ResolvedRequest
from vbq.spec.rest_fields import (
    ROOT,
    camel_path_to_snake,
    leaf_mismatches,
    parse_error_field,
    rest_field,
)

__all__ = ["OUTPUT_ONLY_FIELDS", "sdk_kwargs_from_message", "spec_from_rest"]

OUTPUT_ONLY_FIELDS: frozenset[str] = frozenset(
    {
        "name",
        "model_version_id",
        "output_info",
        "state",
        "error",
        "partial_failures",
        "resources_consumed",
        "completion_stats",
        "create_time",
        "start_time",
        "end_time",
        "update_time",
        "satisfies_pzs",
        "satisfies_pzi",
        "model_monitoring_stats_anomalies",
        "model_monitoring_status",
    }
)
"""Fields Google sets and ignores in a create body (snake_case)."""

# Compared as one value: user data (labels, parameters) and whole sub-configs.
_WHOLE = frozenset({"labels", "modelParameters", "explanationSpec", "modelMonitoringConfig"})


def spec_from_rest(
    body: object,
    *,
    api_version: ApiVersion,
    project: str,
    location: str,
    default_project: str | None,
    default_location: str | None,
) -> tuple[JobSpec, ResolvedRequest]:
    """The spec (and its resolved create request) for a REST create body under
    ``projects/{project}/locations/{location}``.

    Raises:
        SpecError: the body does not fit Google's message, breaks a spec rule, or carries a
            field vbq cannot send; each error's ``field`` is a REST path
            (``batch_prediction_job.labels.team``) or ``parent``.
    """
    if not isinstance(body, Mapping):
        raise SpecError.single(ROOT, "type", f"must be a JSON object, got {type(body).__name__}")
    message = message_class("BatchPredictionJob", api_version)()
    try:
        # The whole body must fit, output-only fields included (Google parses them too).
        json_format.ParseDict(dict(body), message, ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        field, description = parse_error_field(str(exc))
        raise SpecError.single(field, "google_message", description) from None
    fields = message.DESCRIPTOR.fields_by_name
    for name in OUTPUT_ONLY_FIELDS & set(fields):
        message.ClearField(name)
    # The caller's body in wire form (what Google's REST transport would send): mapped to
    # the spec, then compared with the spec's own body.
    wire: dict[str, Any] = json_format.MessageToDict(message, use_integers_for_enums=True)
    kwargs = sdk_kwargs_from_message(wire)
    kwargs.update(project=project, location=location)
    try:
        spec = JobSpec.from_sdk_kwargs(**kwargs)
        resolved = spec.resolve(default_project=default_project, default_location=default_location)
    except SpecError as exc:
        raise SpecError([{**e, "field": rest_field(e["field"])} for e in exc.errors]) from None
    _check_nothing_dropped(wire, resolved)
    return spec, resolved


def sdk_kwargs_from_message(job: Mapping[str, Any]) -> dict[str, Any]:
    """SDK keyword arguments for a REST job as ``MessageToDict`` gives it (camelCase; enums as
    names or numbers). Fields without an SDK parameter are left out (the caller's round-trip check
    refuses them); the display name and model are required as Google requires them.

    Raises:
        SpecError: ``displayName`` or ``model`` is missing (REST field names).
    """
    problems = Problems()
    kwargs: dict[str, Any] = {}
    for key, name in (("displayName", "job_display_name"), ("model", "model_name")):
        if job.get(key):
            kwargs[name] = job[key]
        else:
            problems.add(rest_field(name), "required", "Required field is not set.")
    problems.raise_if_any()
    source = job.get("inputConfig") or {}
    _put(kwargs, "instances_format", source.get("instancesFormat"))
    _put(kwargs, "gcs_source", (source.get("gcsSource") or {}).get("uris"))
    _put(kwargs, "bigquery_source", (source.get("bigquerySource") or {}).get("inputUri"))
    dest = job.get("outputConfig") or {}
    _put(kwargs, "predictions_format", dest.get("predictionsFormat"))
    _put(
        kwargs, "gcs_destination_prefix", (dest.get("gcsDestination") or {}).get("outputUriPrefix")
    )
    _put(
        kwargs,
        "bigquery_destination_prefix",
        (dest.get("bigqueryDestination") or {}).get("outputUri"),
    )
    _put(kwargs, "model_parameters", job.get("modelParameters"))
    resources = job.get("dedicatedResources") or {}
    machine = resources.get("machineSpec") or {}
    _put(kwargs, "machine_type", machine.get("machineType"))
    accelerator = _accelerator_name(machine.get("acceleratorType"))
    if accelerator not in (None, "ACCELERATOR_TYPE_UNSPECIFIED"):
        kwargs["accelerator_type"] = accelerator
    _put(kwargs, "accelerator_count", machine.get("acceleratorCount"))
    _put(kwargs, "starting_replica_count", resources.get("startingReplicaCount"))
    _put(kwargs, "max_replica_count", resources.get("maxReplicaCount"))
    _put(kwargs, "batch_size", (job.get("manualBatchTuningParameters") or {}).get("batchSize"))
    _put(kwargs, "generate_explanation", job.get("generateExplanation"))
    explanation = job.get("explanationSpec") or {}
    _put(kwargs, "explanation_metadata", explanation.get("metadata"))
    _put(kwargs, "explanation_parameters", explanation.get("parameters"))
    _put(kwargs, "labels", job.get("labels"))
    _put(kwargs, "encryption_spec_key_name", (job.get("encryptionSpec") or {}).get("kmsKeyName"))
    _put(kwargs, "service_account", job.get("serviceAccount"))
    monitoring = job.get("modelMonitoringConfig") or {}
    objectives = monitoring.get("objectiveConfigs") or []
    _put(kwargs, "model_monitoring_objective_config", objectives[0] if objectives else None)
    _put(kwargs, "model_monitoring_alert_config", monitoring.get("alertConfig"))
    _put(kwargs, "analysis_instance_schema_uri", monitoring.get("analysisInstanceSchemaUri"))
    return kwargs


def _accelerator_name(value: object) -> object:
    """An ``AcceleratorType`` number as its name (names and unknown values unchanged)."""
    if isinstance(value, int) and not isinstance(value, bool):
        field: Any = message_class("MachineSpec").DESCRIPTOR.fields_by_name["accelerator_type"]
        found = field.enum_type.values_by_number.get(value)
        return found.name if found is not None else value
    return value


def _put(kwargs: dict[str, Any], name: str, value: Any) -> None:
    if value is not None and value not in ({}, []):
        kwargs[name] = value


def _check_nothing_dropped(wire: Mapping[str, Any], resolved: ResolvedRequest) -> None:
    """Refuse a body whose values the spec's create request would not carry."""
    problems = Problems()
    for path, value, instead in leaf_mismatches(wire, resolved.body, whole=_WHOLE):
        field = camel_path_to_snake(path)
        if instead is None:
            problems.add(field, "unsupported", "is not supported by vbq (it would be dropped)")
        else:
            problems.add(
                field,
                "unsupported_form",
                f"vbq would send {shown(instead)} instead of {shown(value)}; send that form",
            )
    problems.raise_if_any()
