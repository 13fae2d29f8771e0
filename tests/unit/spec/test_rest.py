"""REST create bodies → job specs (:mod:`vbq.spec.rest`): what Google's SDK sends is taken and
sent on unchanged; what Google's types refuse, or what vbq would drop, is refused by name."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.spec import sdk_oracle
from tests.unit.spec.cases import LOCATION, PROJECT, VALID_CASES, clean
from tests.unit.spec.test_sdk_parity import _sdk_kwargs
from vbq.errors import SpecError
from vbq.spec import JobSpec
from vbq.spec.rest import sdk_kwargs_from_message, spec_from_rest
from vbq.spec.rest_fields import camel_path_to_snake, parse_error_field, rest_field

GEMINI = "publishers/google/models/gemini-2.0-flash-001"
BODY: dict[str, Any] = {
    "displayName": "d",
    "model": GEMINI,
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://bkt/in.jsonl"]}},
    "outputConfig": {
        "predictionsFormat": "jsonl",
        "gcsDestination": {"outputUriPrefix": "gs://bkt/out"},
    },
}


def convert(
    body: object, api_version: str = "v1", *, project: str = PROJECT, location: str = LOCATION
) -> tuple[JobSpec, dict[str, Any]]:
    spec, resolved = spec_from_rest(
        body,
        api_version=api_version,  # type: ignore[arg-type]
        project=project,
        location=location,
        default_project="default-project",
        default_location="europe-west4",
    )
    return spec, resolved.body


def refused(body: object, api_version: str = "v1") -> list[dict[str, str]]:
    with pytest.raises(SpecError) as info:
        convert(body, api_version)
    return info.value.errors


@pytest.mark.parametrize("case", sorted(set(VALID_CASES) - {"no_display_name"}))
def test_every_sdk_body_is_taken_and_sent_unchanged(case: str) -> None:
    kwargs = clean(VALID_CASES[case]())
    theirs = sdk_oracle.sdk_request(**_sdk_kwargs(kwargs, kwargs.get("location", LOCATION)))
    # The SDK posts to projects/{project}/locations/{location}: the URL carries them here.
    spec, sent = convert(
        copy.deepcopy(theirs.body),
        theirs.api_version,
        project=theirs.project,
        location=theirs.location,
    )
    assert sent == theirs.body
    assert (spec.project, spec.location) == (theirs.project, theirs.location)


def test_output_only_fields_are_ignored_and_snake_case_names_accepted() -> None:
    body = {
        **BODY,
        "name": "projects/x/locations/y/batchPredictionJobs/1",
        "state": 4,
        "createTime": "2024-01-01T00:00:00Z",
        "completionStats": {"successfulCount": "3"},
        "display_name": None,
    }
    del body["display_name"]
    snake = {"display_name": "d", **{k: v for k, v in BODY.items() if k != "displayName"}}
    assert convert(body)[1] == convert(snake)[1] == convert(BODY)[1]


def test_parameters_become_the_spec_of_submit() -> None:
    spec, _ = convert(
        {
            **BODY,
            "labels": {"team": "x"},
            "modelParameters": {"temperature": 0.5},
            "dedicatedResources": {
                "machineSpec": {"machineType": "n1-standard-4", "acceleratorType": 5},
                "maxReplicaCount": 3,
            },
            "manualBatchTuningParameters": {"batchSize": 8},
            "serviceAccount": "sa@my-project.iam.gserviceaccount.com",
        }
    )
    assert spec.to_dict() == {
        "model_name": GEMINI,
        "job_display_name": "d",
        "gcs_source": ["gs://bkt/in.jsonl"],
        "gcs_destination_prefix": "gs://bkt/out",
        "model_parameters": {"temperature": 0.5},
        "machine_type": "n1-standard-4",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "max_replica_count": 3,
        "batch_size": 8,
        "labels": {"team": "x"},
        "project": PROJECT,
        "location": LOCATION,
        "service_account": "sa@my-project.iam.gserviceaccount.com",
    }


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ([1], "batch_prediction_job", "type"),
        ({**BODY, "foo": 1}, "batch_prediction_job.foo", "google_message"),
        ({**BODY, "displayName": 5}, "batch_prediction_job.display_name", "google_message"),
        (
            {**BODY, "inputConfig": {"gcsSource": {"uris": 5}}},
            "batch_prediction_job.input_config.gcs_source.uris",
            "google_message",
        ),
        (
            {**BODY, "dedicatedResources": {"machineSpec": {"acceleratorType": "NOPE"}}},
            "batch_prediction_job.dedicated_resources.machine_spec.accelerator_type",
            "google_message",
        ),
        ({**BODY, "labels": [1]}, "batch_prediction_job.labels", "google_message"),
        ({k: v for k, v in BODY.items() if k != "model"}, "batch_prediction_job.model", "required"),
        (
            {k: v for k, v in BODY.items() if k != "displayName"},
            "batch_prediction_job.display_name",
            "required",
        ),
        (
            {**BODY, "inputConfig": {"gcsSource": {"uris": ["nope"]}}},
            "batch_prediction_job.input_config.gcs_source.uris[0]",
            "gcs_uri",
        ),
        ({**BODY, "labels": {"vbq-x": "1"}}, "batch_prediction_job.labels.vbq-x", "reserved"),
        (
            {**BODY, "instanceConfig": {"instanceType": "object"}},
            "batch_prediction_job.instance_config.instance_type",
            "unsupported",
        ),
        (
            {**BODY, "disableContainerLogging": True},
            "batch_prediction_job.disable_container_logging",
            "unsupported",
        ),
        ({**BODY, "model": "123"}, "batch_prediction_job.model", "unsupported_form"),
        (
            {**BODY, "model": "projects/p-roject/locations/europe-west4/models/5"},
            "batch_prediction_job.model",
            "location_mismatch",
        ),
        (
            {**BODY, "modelMonitoringConfig": {"objectiveConfigs": [{}]}},
            "batch_prediction_job.model_monitoring_config",
            "google_message",
        ),
    ],
)
def test_refusals_name_the_rest_field(body: object, field: str, rule: str) -> None:
    errors = refused(body)
    assert (field, rule) in {(e["field"], e["rule"]) for e in errors}, errors


def test_a_second_monitoring_objective_is_refused_not_dropped() -> None:
    theirs = sdk_oracle.sdk_request(
        **_sdk_kwargs(clean(VALID_CASES["monitoring"]()), LOCATION)
    ).body
    objective = theirs["modelMonitoringConfig"]["objectiveConfigs"][0]
    theirs["modelMonitoringConfig"]["objectiveConfigs"].append(objective)
    errors = refused(theirs, "v1beta1")
    assert errors[0]["field"] == "batch_prediction_job.model_monitoring_config"


def test_field_names_translate_from_sdk_parameters() -> None:
    assert rest_field("gcs_source[2]") == "batch_prediction_job.input_config.gcs_source.uris[2]"
    assert rest_field("labels.team") == "batch_prediction_job.labels.team"
    assert rest_field("project") == rest_field("location") == "parent"
    assert rest_field("spec") == "batch_prediction_job"
    assert camel_path_to_snake("labels.myKey") == "batch_prediction_job.labels.myKey"
    field, message = parse_error_field('Message type "X" has no field named "zz" at "X".')
    assert field == "batch_prediction_job.zz" and "Unknown name 'zz'" in message


def test_kwargs_of_a_message_leave_unknown_fields_out() -> None:
    kwargs = sdk_kwargs_from_message({**BODY, "instanceConfig": {"instanceType": "object"}})
    assert "instanceConfig" not in kwargs and kwargs["job_display_name"] == "d"
