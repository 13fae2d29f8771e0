"""Rule by rule: how SDK arguments map to the REST body (expected JSON written from jobs.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.spec.cases import LOCATION, PROJECT, VALID_CASES, clean
from tests.unit.spec.descriptor_set import build_descriptor_set
from vbq.errors import SpecError
from vbq.spec import SUBMISSION_LABEL, JobSpec, with_submission_label
from vbq.spec.protos import accelerator_types, descriptor_set, snapshot_sdk_version

IO = {"gcs_source": "gs://in-bucket/x.jsonl", "gcs_destination_prefix": "gs://out-bucket/y"}


def body(**kwargs: Any) -> dict[str, Any]:
    kwargs = {"job_display_name": "j", "model_name": "456", **IO, **kwargs}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    req = JobSpec.from_sdk_kwargs(**kwargs).resolve(
        default_project=PROJECT, default_location=LOCATION
    )
    return req.body


def test_minimal_body_is_exactly_what_the_sdk_sends() -> None:
    assert body() == {
        "displayName": "j",
        "model": f"projects/{PROJECT}/locations/{LOCATION}/models/456",
        "inputConfig": {
            "instancesFormat": "jsonl",
            "gcsSource": {"uris": ["gs://in-bucket/x.jsonl"]},
        },
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://out-bucket/y"},
        },
    }


# -- model names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("456", f"projects/{PROJECT}/locations/{LOCATION}/models/456"),
        ("456@2", f"projects/{PROJECT}/locations/{LOCATION}/models/456@2"),
        (
            "my_model-1@default",
            f"projects/{PROJECT}/locations/{LOCATION}/models/my_model-1@default",
        ),
        ("projects/9/locations/us-central1/models/7", "projects/9/locations/us-central1/models/7"),
        (
            "projects/9/locations/us-central1/models/7@4",
            "projects/9/locations/us-central1/models/7@4",
        ),
        (
            "publishers/google/models/gemini-1.5-flash-002",
            "publishers/google/models/gemini-1.5-flash-002",
        ),
        (
            f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/gemini-2.0-flash-001",
            f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/gemini-2.0-flash-001",
        ),
        (
            "publishers/anthropic/models/claude-3-5-sonnet@20240620",
            "publishers/anthropic/models/claude-3-5-sonnet@20240620",
        ),
    ],
)
def test_model_names(given: str, sent: str) -> None:
    spec = JobSpec.from_sdk_kwargs(model_name=given, **IO)
    req = spec.resolve(default_project=PROJECT, default_location=LOCATION)
    assert req.body["model"] == sent
    assert req.model == sent


def test_bare_publisher_model_is_refused_with_a_hint() -> None:
    with pytest.raises(SpecError) as info:
        JobSpec.from_sdk_kwargs(model_name="gemini-2.0-flash-001", **IO)
    assert info.value.fields == ["model_name"]
    assert "publishers/google/models/gemini-2.0-flash-001" in str(info.value)


def test_model_region_becomes_the_job_region_when_no_location_given() -> None:
    spec = JobSpec.from_sdk_kwargs(model_name="projects/9/locations/europe-west4/models/7", **IO)
    req = spec.resolve(default_project=PROJECT, default_location=LOCATION)
    assert (req.location, req.parent) == (
        "europe-west4",
        f"projects/{PROJECT}/locations/europe-west4",
    )


def test_sdk_model_objects_stand_for_their_versioned_name() -> None:
    class FakeModel:
        versioned_resource_name = "projects/9/locations/us-central1/models/7@3"

    spec = JobSpec.from_sdk_kwargs(model_name=FakeModel(), **IO)
    assert spec.model_name == "projects/9/locations/us-central1/models/7@3"


# -- project and location --------------------------------------------------------------------


def test_explicit_project_and_location_win_over_defaults() -> None:
    spec = JobSpec.from_sdk_kwargs(
        model_name="4", project="other-proj", location="asia-east1", **IO
    )
    req = spec.resolve(default_project=PROJECT, default_location=LOCATION)
    assert (req.project, req.location) == ("other-proj", "asia-east1")
    assert req.body["model"] == "projects/other-proj/locations/asia-east1/models/4"


@pytest.mark.parametrize(
    ("project", "location", "field"),
    [
        (None, LOCATION, "project"),
        (PROJECT, None, "location"),
        ("", LOCATION, "project"),
        ("Bad Project", LOCATION, "project"),
        (PROJECT, "mars-1", "location"),
    ],
)
def test_resolve_without_usable_defaults(
    project: str | None, location: str | None, field: str
) -> None:
    spec = JobSpec.from_sdk_kwargs(model_name="4", **IO)
    with pytest.raises(SpecError) as info:
        spec.resolve(default_project=project, default_location=location)
    assert info.value.fields == [field]
    # target() is what producers check with: it refuses exactly the same way.
    with pytest.raises(SpecError) as cheap:
        spec.target(default_project=project, default_location=location)
    assert cheap.value.errors == info.value.errors


@pytest.mark.parametrize("case", sorted(VALID_CASES))
def test_target_is_the_project_location_and_model_of_resolve(case: str) -> None:
    spec = JobSpec.from_sdk_kwargs(**clean(VALID_CASES[case]()))
    req = spec.resolve(default_project=PROJECT, default_location=LOCATION)
    target = spec.target(default_project=PROJECT, default_location=LOCATION)
    assert (target.project, target.location, target.model) == (
        req.project,
        req.location,
        req.model,
    )


def test_kms_key_in_another_region_than_the_model_is_refused_at_resolve() -> None:
    spec = JobSpec.from_sdk_kwargs(
        model_name="4",
        encryption_spec_key_name="projects/p-123456/locations/europe-west4/keyRings/r/cryptoKeys/k",
        **IO,
    )
    with pytest.raises(SpecError) as info:
        spec.resolve(default_project=PROJECT, default_location=LOCATION)
    assert info.value.fields == ["encryption_spec_key_name"]
    with pytest.raises(SpecError) as cheap:
        spec.target(default_project=PROJECT, default_location=LOCATION)
    assert cheap.value.fields == ["encryption_spec_key_name"]
    ok = spec.resolve(default_project=PROJECT, default_location="europe-west4")
    assert ok.body["encryptionSpec"] == {
        "kmsKeyName": "projects/p-123456/locations/europe-west4/keyRings/r/cryptoKeys/k"
    }


# -- input and output ------------------------------------------------------------------------


def test_gcs_source_list_and_tuple_become_uris() -> None:
    uris = ["gs://in-bucket/a", "gs://in-bucket/b/*.jsonl"]
    assert body(gcs_source=uris)["inputConfig"]["gcsSource"] == {"uris": uris}
    assert body(gcs_source=tuple(uris))["inputConfig"]["gcsSource"] == {"uris": uris}


def test_bigquery_source_forces_format_and_is_sent_unchanged() -> None:
    sent = body(gcs_source=None, bigquery_source="bq://my-project.ds.table")["inputConfig"]
    assert sent == {
        "instancesFormat": "bigquery",
        "bigquerySource": {"inputUri": "bq://my-project.ds.table"},
    }


@pytest.mark.parametrize("prefix", ["my-project", "my-project.ds", "bq://my-project.ds"])
def test_bigquery_destination_gets_bq_scheme(prefix: str) -> None:
    sent = body(gcs_destination_prefix=None, bigquery_destination_prefix=prefix)["outputConfig"]
    uri = prefix if prefix.startswith("bq://") else f"bq://{prefix}"
    assert sent == {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": uri}}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tf-record", "tf-record-gzip", "file-list"])
def test_instances_formats(fmt: str) -> None:
    assert body(instances_format=fmt)["inputConfig"]["instancesFormat"] == fmt


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_predictions_formats(fmt: str) -> None:
    assert body(predictions_format=fmt)["outputConfig"]["predictionsFormat"] == fmt


# -- dedicated resources ---------------------------------------------------------------------


def test_machine_type_alone_sends_empty_batch_tuning_like_the_sdk() -> None:
    sent = body(machine_type="n1-standard-4")
    assert sent["dedicatedResources"] == {"machineSpec": {"machineType": "n1-standard-4"}}
    assert sent["manualBatchTuningParameters"] == {}


def test_full_dedicated_resources_with_integer_enum() -> None:
    sent = body(
        machine_type="a2-highgpu-1g",
        accelerator_type="NVIDIA_TESLA_A100",
        accelerator_count=2,
        starting_replica_count=1,
        max_replica_count=4,
        batch_size=32,
    )
    from google.cloud.aiplatform_v1.types import AcceleratorType

    assert sent["dedicatedResources"] == {
        "machineSpec": {
            "machineType": "a2-highgpu-1g",
            "acceleratorType": int(AcceleratorType.NVIDIA_TESLA_A100),
            "acceleratorCount": 2,
        },
        "startingReplicaCount": 1,
        "maxReplicaCount": 4,
    }
    assert sent["manualBatchTuningParameters"] == {"batchSize": 32}


def test_accelerator_names_come_from_google_enum() -> None:
    from google.cloud.aiplatform_v1.types import AcceleratorType

    assert accelerator_types() == {e.name for e in AcceleratorType if e.value != 0}


def test_no_machine_type_means_automatic_resources() -> None:
    sent = body()
    assert "dedicatedResources" not in sent
    assert "manualBatchTuningParameters" not in sent


# -- parameters, labels, explanation, misc ---------------------------------------------------


def test_model_parameters_are_sent_as_struct_values() -> None:
    sent = body(model_parameters={"temperature": 0.5, "n": 3, "stop": ["a"], "nested": {"b": True}})
    assert sent["modelParameters"] == {
        "temperature": 0.5,
        "n": 3.0,
        "stop": ["a"],
        "nested": {"b": True},
    }
    assert "modelParameters" not in body(model_parameters={})


def test_labels_are_sent_and_empty_labels_are_not() -> None:
    assert body(labels={"team": "ml", "env": ""})["labels"] == {"env": "", "team": "ml"}
    assert "labels" not in body(labels={})


def test_63_labels_are_allowed_and_leave_room_for_the_submission_label() -> None:
    labels = {f"k{i}": "v" for i in range(63)}
    labelled = with_submission_label(body(labels=labels), "a" * 32)
    assert len(labelled["labels"]) == 64
    assert labelled["labels"][SUBMISSION_LABEL] == "a" * 32


def test_international_labels() -> None:
    assert body(labels={"équipe": "données", "機械学習": "٣"})["labels"] == {
        "équipe": "données",
        "機械学習": "٣",
    }
    with pytest.raises(SpecError):  # U+30FC is a modifier letter (Lm): Google refuses it
        body(labels={"チーム": "x"})


def test_generate_explanation_false_is_omitted_true_is_sent() -> None:
    assert "generateExplanation" not in body(generate_explanation=False)
    assert body(generate_explanation=True)["generateExplanation"] is True


def test_explanation_dicts_in_camel_or_snake_case_equal_sdk_objects() -> None:
    from google.cloud.aiplatform import explain

    camel = body(
        generate_explanation=True,
        explanation_metadata={"inputs": {"my_feature": {"inputTensorName": "t"}}},
        explanation_parameters={"sampledShapleyAttribution": {"pathCount": 5}},
    )
    snake = body(
        generate_explanation=True,
        explanation_metadata={"inputs": {"my_feature": {"input_tensor_name": "t"}}},
        explanation_parameters={"sampled_shapley_attribution": {"path_count": 5}},
    )
    objects = body(
        generate_explanation=True,
        explanation_metadata=explain.ExplanationMetadata(
            inputs={"my_feature": explain.ExplanationMetadata.InputMetadata(input_tensor_name="t")}
        ),
        explanation_parameters=explain.ExplanationParameters(
            sampled_shapley_attribution={"path_count": 5}
        ),
    )
    assert camel == snake == objects
    # Map keys are feature names: never camelCased.
    assert camel["explanationSpec"]["metadata"]["inputs"] == {
        "my_feature": {"inputTensorName": "t"}
    }


def test_service_account_encryption_and_timeout() -> None:
    spec = JobSpec.from_sdk_kwargs(
        model_name="4",
        service_account="sa@my-project.iam.gserviceaccount.com",
        encryption_spec_key_name=f"projects/{PROJECT}/locations/{LOCATION}/keyRings/r/cryptoKeys/k",
        create_request_timeout=12,
        **IO,
    )
    req = spec.resolve(default_project=PROJECT, default_location=LOCATION)
    assert req.body["serviceAccount"] == "sa@my-project.iam.gserviceaccount.com"
    assert req.body["encryptionSpec"]["kmsKeyName"].endswith("/cryptoKeys/k")
    assert req.timeout_s == 12.0
    assert isinstance(req.timeout_s, float)


def test_monitoring_dicts_switch_to_v1beta1() -> None:
    spec = JobSpec.from_sdk_kwargs(
        model_name="4",
        model_monitoring_objective_config={
            "prediction_drift_detection_config": {"drift_thresholds": {"age": {"value": 0.1}}}
        },
        model_monitoring_alert_config={"emailAlertConfig": {"userEmails": ["a@example.com"]}},
        analysis_instance_schema_uri="gs://schema-bucket/s.yaml",
        **IO,
    )
    req = spec.resolve(default_project=PROJECT, default_location=LOCATION)
    assert req.api_version == "v1beta1"
    assert req.body["modelMonitoringConfig"] == {
        "objectiveConfigs": [
            {"predictionDriftDetectionConfig": {"driftThresholds": {"age": {"value": 0.1}}}}
        ],
        "alertConfig": {"emailAlertConfig": {"userEmails": ["a@example.com"]}},
        "analysisInstanceSchemaUri": "gs://schema-bucket/s.yaml",
    }
    assert (
        JobSpec.from_sdk_kwargs(model_name="4", **IO)
        .resolve(default_project=PROJECT, default_location=LOCATION)
        .api_version
        == "v1"
    )


def test_display_name_rules() -> None:
    assert body(job_display_name="x" * 128)["displayName"] == "x" * 128
    assert (
        body(job_display_name="naïve 名前 '; DROP TABLE")["displayName"]
        == "naïve 名前 '; DROP TABLE"
    )


@pytest.mark.parametrize("name", ["credentials", "sync"])
def test_queue_meaningless_parameters_are_refused_with_reason(name: str) -> None:
    with pytest.raises(SpecError) as info:
        JobSpec.from_sdk_kwargs(model_name="4", **IO, **{name: True})
    assert info.value.fields == [name]
    assert "not accepted" in str(info.value)


# -- with_submission_label -------------------------------------------------------------------


def test_with_submission_label_copies() -> None:
    original = body(labels={"team": "ml"})
    labelled = with_submission_label(original, "0123456789abcdef0123456789abcdef")
    assert labelled["labels"] == {
        "team": "ml",
        SUBMISSION_LABEL: "0123456789abcdef0123456789abcdef",
    }
    assert original["labels"] == {"team": "ml"}
    assert with_submission_label(body(), "f" * 32)["labels"] == {SUBMISSION_LABEL: "f" * 32}


@pytest.mark.parametrize("bad", ["", "ABC", "g" * 32, "a" * 31, "a" * 33, 5, None])
def test_with_submission_label_refuses_bad_ids(bad: Any) -> None:
    with pytest.raises(SpecError) as info:
        with_submission_label(body(), bad)
    assert info.value.fields == ["submission_id"]


# -- the descriptor snapshot -----------------------------------------------------------------


def test_descriptors_match_installed_sdk() -> None:
    from google.protobuf import descriptor_pb2

    def by_name(data: bytes) -> dict[str, bytes]:
        file_set = descriptor_pb2.FileDescriptorSet()
        file_set.ParseFromString(data)
        result = {}
        for proto in file_set.file:
            # proto-plus assembles each file as its modules import, so the order of messages
            # and imports inside a file varies between processes: compare them sorted.
            for repeated in (proto.message_type, proto.enum_type):
                items = sorted(repeated, key=lambda item: item.name)
                del repeated[:]
                repeated.extend(items)
            deps = sorted(proto.dependency)
            del proto.dependency[:]
            proto.dependency.extend(deps)
            result[proto.name] = proto.SerializeToString(deterministic=True)
        return result

    assert by_name(build_descriptor_set()) == by_name(descriptor_set()), (
        f"Google's BatchPredictionJob descriptors changed since SDK {snapshot_sdk_version()}; "
        "rebuild with .venv/bin/python -m tests.unit.spec.descriptor_set"
    )
