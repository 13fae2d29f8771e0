"""Create-body validation, enum encoding and config merging of the Vertex emulator."""

from __future__ import annotations

from typing import Any

import pytest
from vbq_emulators.errors import ApiError, EmulatorConfigError
from vbq_emulators.vertex.config import EmulatorConfig
from vbq_emulators.vertex.jobs import planned_outcome
from vbq_emulators.vertex.validation import validate_create_body
from vbq_emulators.vertex.wire import decode_enums, encode_job, output_dir_timestamp


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "displayName": "job",
        "model": "publishers/google/models/gemini-2.0-flash-001",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://b/out"},
        },
        "labels": {"team": "x"},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def check(data: Any, api_version: str = "v1") -> dict[str, Any]:
    return validate_create_body(data, project="p", location="us-central1", api_version=api_version)


def test_valid_body_passes_and_output_only_fields_are_dropped() -> None:
    out = check({**body(), "state": 4, "name": "x", "createTime": "2024-01-01T00:00:00Z"})
    assert out["displayName"] == "job"
    assert "state" not in out and "name" not in out and "createTime" not in out


def test_snake_case_keys_become_camel_case() -> None:
    data = {
        "display_name": "job",
        "model": "projects/p/locations/us-central1/models/123@2",
        "input_config": {"instances_format": "csv", "gcs_source": {"uris": ["gs://b/*.csv"]}},
        "output_config": {
            "predictions_format": "bigquery",
            "bigquery_destination": {"output_uri": "bq://proj"},
        },
    }
    out = check(data)
    assert out["inputConfig"]["gcsSource"]["uris"] == ["gs://b/*.csv"]
    assert out["outputConfig"]["bigqueryDestination"]["outputUri"] == "bq://proj"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (body(displayName=None), "display_name"),
        (body(displayName=""), "display_name"),
        (body(displayName="x" * 129), "display_name"),
        (body(model=None), "model"),
        (body(model="not a model"), "model"),
        (body(model="projects/p/locations/europe-west4/models/1"), "model"),
        (body(unmanagedContainerModel={"artifactUri": "gs://b/m"}), "model"),
        (body(inputConfig=None), "input_config"),
        (
            body(inputConfig={"instancesFormat": "xml", "gcsSource": {"uris": ["gs://b/i"]}}),
            "instances_format",
        ),
        (body(inputConfig={"instancesFormat": "jsonl"}), "input_config.source"),
        (
            body(
                inputConfig={
                    "instancesFormat": "jsonl",
                    "gcsSource": {"uris": ["gs://b/i"]},
                    "bigquerySource": {"inputUri": "bq://p.d.t"},
                }
            ),
            "input_config.source",
        ),
        (
            body(inputConfig={"instancesFormat": "jsonl", "gcsSource": {"uris": []}}),
            "gcs_source.uris",
        ),
        (
            body(inputConfig={"instancesFormat": "jsonl", "gcsSource": {"uris": ["http://x"]}}),
            "gcs_source.uris",
        ),
        (
            body(
                inputConfig={"instancesFormat": "jsonl", "bigquerySource": {"inputUri": "bq://t"}}
            ),
            "instances_format",
        ),
        (body(outputConfig=None), "output_config"),
        (
            body(outputConfig={"predictionsFormat": "jsonl"}),
            "output_config.destination",
        ),
        (
            body(
                outputConfig={
                    "predictionsFormat": "parquet",
                    "gcsDestination": {"outputUriPrefix": "gs://b/o"},
                }
            ),
            "predictions_format",
        ),
        (
            body(
                outputConfig={
                    "predictionsFormat": "jsonl",
                    "gcsDestination": {"outputUriPrefix": "gs://b/*"},
                }
            ),
            "output_uri_prefix",
        ),
        (body(labels={"Team": "x"}), "labels.Team"),
        (body(labels={"team": "X"}), "labels.team"),
        (body(labels={"1team": "x"}), "labels.1team"),
        (body(labels={"team": "x" * 64}), "labels.team"),
        (body(labels={"team": 1}), "labels.team"),
        (body(labels={f"k{i}": "v" for i in range(65)}), "labels"),
        (body(dedicatedResources={"startingReplicaCount": 2}), "machine_type"),
        (
            body(dedicatedResources={"machineSpec": {"machineType": "n1", "acceleratorType": "X"}}),
            "accelerator_type",
        ),
    ],
)
def test_invalid_bodies_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as info:
        check(data)
    assert info.value.status_code == 400
    assert info.value.status == "INVALID_ARGUMENT"
    assert field in info.value.message


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ({**body(), "bogus": 1}, "bogus"),
        (
            body(
                inputConfig={
                    "instancesFormat": "jsonl",
                    "gcsSource": {"uris": ["gs://b/i"], "x": 1},
                }
            ),
            "x",
        ),
        ({**body(), "modelMonitoringConfig": {}}, "modelMonitoringConfig"),
    ],
)
def test_unknown_fields_are_refused(data: dict[str, Any], name: str) -> None:
    with pytest.raises(ApiError, match=f'Unknown name "{name}"') as info:
        check(data)
    assert info.value.status_code == 400


def test_v1beta1_allows_model_monitoring() -> None:
    assert "modelMonitoringConfig" in check({**body(), "modelMonitoringConfig": {}}, "v1beta1")


def test_international_lowercase_labels_are_allowed() -> None:
    assert check(body(labels={"équipe": "données"}))["labels"] == {"équipe": "données"}


def test_enum_encoding_round_trip() -> None:
    data = {"dedicatedResources": {"machineSpec": {"machineType": "n1", "acceleratorType": 5}}}
    decode_enums(data)
    assert data["dedicatedResources"]["machineSpec"]["acceleratorType"] == "NVIDIA_TESLA_T4"
    resource = {"state": "JOB_STATE_RUNNING", **data}
    as_int = encode_job(resource, int_enums=True)
    assert as_int["state"] == 3
    assert as_int["dedicatedResources"]["machineSpec"]["acceleratorType"] == 5
    as_str = encode_job(resource, int_enums=False)
    assert as_str["state"] == "JOB_STATE_RUNNING"
    assert resource["state"] == "JOB_STATE_RUNNING"  # the stored copy is untouched


def test_output_dir_timestamp_format() -> None:
    assert output_dir_timestamp(1704067200.1234) == "2024-01-01T00:00:00.123Z"


def test_config_merge_checks_keys_and_ranges() -> None:
    config = EmulatorConfig().merged({"fail_share": 0.25, "create_per_min": 10})
    assert config.fail_share == 0.25 and config.create_per_min == 10
    for bad in (
        {"nope": 1},
        {"fail_share": 2},
        {"fail_share": 0.6, "partial_share": 0.6},
        {"create_per_min": 1.5},
        {"queued_s": -1},
        {"fault_methods": ["create", "launch"]},
        {"latency_s": "slow"},
    ):
        with pytest.raises(EmulatorConfigError):
            EmulatorConfig().merged(bad)


def test_planned_outcomes_follow_shares_and_seed() -> None:
    ids = [str(10**18 + i) for i in range(2000)]
    config = EmulatorConfig(fail_share=0.2, partial_share=0.1, expire_share=0.1, seed=7)
    outcomes = [planned_outcome(i, config) for i in ids]
    assert outcomes == [planned_outcome(i, config) for i in ids]  # deterministic
    share = {k: outcomes.count(k) / len(ids) for k in ("fail", "partial", "expire", "ok")}
    assert abs(share["fail"] - 0.2) < 0.04
    assert abs(share["partial"] - 0.1) < 0.03
    assert abs(share["expire"] - 0.1) < 0.03
    other_seed = [planned_outcome(i, EmulatorConfig(fail_share=0.2, seed=8)) for i in ids]
    assert other_seed != [planned_outcome(i, EmulatorConfig(fail_share=0.2, seed=7)) for i in ids]
