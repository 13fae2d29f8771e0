"""The REST ``BatchPredictionJob`` body, built as ``BatchPredictionJob._submit_impl`` builds it.

Mapping (SDK parameter -> camelCase body field), with the SDK's quirks kept:

* ``job_display_name`` -> ``displayName``; ``model_name`` (expanded) -> ``model``
* ``gcs_source`` -> ``inputConfig{instancesFormat, gcsSource{uris}}``; ``bigquery_source`` ->
  ``inputConfig{instancesFormat: "bigquery", bigquerySource{inputUri}}``
* ``gcs_destination_prefix`` -> ``outputConfig{predictionsFormat,
  gcsDestination{outputUriPrefix}}``; ``bigquery_destination_prefix`` ->
  ``outputConfig{predictionsFormat: "bigquery", bigqueryDestination{outputUri}}``
* ``encryption_spec_key_name`` -> ``encryptionSpec{kmsKeyName}``
* ``model_parameters`` -> ``modelParameters`` (only when truthy)
* ``machine_type`` -> ``dedicatedResources{machineSpec{machineType, acceleratorType,
  acceleratorCount}, startingReplicaCount, maxReplicaCount}`` and
  ``manualBatchTuningParameters{batchSize}``; the SDK sends ``manualBatchTuningParameters: {}``
  when ``batch_size`` is unset, and no replica counts unless given (Vertex picks them).
* ``labels``, ``generate_explanation`` (only when true), ``explanation_metadata`` /
  ``explanation_parameters`` -> ``explanationSpec{metadata, parameters}``, ``service_account``
* model monitoring -> ``modelMonitoringConfig`` and the ``v1beta1`` API (see
  :mod:`vbq.spec.monitoring`).

The result goes through Google's message type and ``json_format`` like the SDK's REST transport
does, so enums are integers and numbers in ``modelParameters`` are doubles.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from vbq.spec.monitoring import monitoring_body
from vbq.spec.protos import ApiVersion, wire_json

if TYPE_CHECKING:
    from vbq.spec.model import JobSpec

__all__ = ["build_body"]


def build_body(
    spec: JobSpec, *, model: str, display_name: str
) -> tuple[dict[str, Any], ApiVersion]:
    """The request body and API version for ``spec``.

    Args:
        model: the resolved model resource name.
        display_name: ``spec.job_display_name`` or the generated default.

    Raises:
        google.protobuf.json_format.ParseError: only on a bug in this mapping.
    """
    api_version: ApiVersion = "v1beta1" if spec.model_monitoring_objective_config else "v1"
    body: dict[str, Any] = {"displayName": display_name, "model": model}
    if spec.bigquery_source:
        body["inputConfig"] = {
            "instancesFormat": "bigquery",
            "bigquerySource": {"inputUri": spec.bigquery_source},
        }
    else:
        body["inputConfig"] = {
            "instancesFormat": spec.instances_format,
            "gcsSource": {"uris": list(spec.gcs_source or ())},
        }
    if spec.bigquery_destination_prefix:
        body["outputConfig"] = {
            "predictionsFormat": "bigquery",
            "bigqueryDestination": {"outputUri": spec.bigquery_destination_prefix},
        }
    else:
        body["outputConfig"] = {
            "predictionsFormat": spec.predictions_format,
            "gcsDestination": {"outputUriPrefix": spec.gcs_destination_prefix},
        }
    if spec.encryption_spec_key_name:
        body["encryptionSpec"] = {"kmsKeyName": spec.encryption_spec_key_name}
    if spec.model_parameters:
        body["modelParameters"] = copy.deepcopy(spec.model_parameters)
    if spec.machine_type:
        body.update(_dedicated(spec))
    if spec.labels:
        body["labels"] = dict(spec.labels)
    if spec.generate_explanation:
        body["generateExplanation"] = True
    explanation = {
        key: copy.deepcopy(value)
        for key, value in (
            ("metadata", spec.explanation_metadata),
            ("parameters", spec.explanation_parameters),
        )
        if value
    }
    if explanation:
        body["explanationSpec"] = explanation
    if spec.service_account:
        body["serviceAccount"] = spec.service_account
    if spec.model_monitoring_objective_config:
        body["modelMonitoringConfig"] = monitoring_body(
            copy.deepcopy(spec.model_monitoring_objective_config),
            copy.deepcopy(spec.model_monitoring_alert_config),
            spec.analysis_instance_schema_uri,
        )
    return wire_json(body, api_version), api_version


def _dedicated(spec: JobSpec) -> dict[str, Any]:
    machine_spec: dict[str, Any] = {"machineType": spec.machine_type}
    if spec.accelerator_type:
        machine_spec["acceleratorType"] = spec.accelerator_type
    if spec.accelerator_count:
        machine_spec["acceleratorCount"] = spec.accelerator_count
    resources: dict[str, Any] = {"machineSpec": machine_spec}
    if spec.starting_replica_count:
        resources["startingReplicaCount"] = spec.starting_replica_count
    if spec.max_replica_count:
        resources["maxReplicaCount"] = spec.max_replica_count
    tuning: dict[str, Any] = {}
    if spec.batch_size:
        tuning["batchSize"] = spec.batch_size
    return {"dedicatedResources": resources, "manualBatchTuningParameters": tuning}
