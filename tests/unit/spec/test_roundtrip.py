"""Specs survive to_json/from_json and to_dict/from_dict unchanged, with identical bodies."""

from __future__ import annotations

import json

import pytest
from google.cloud.aiplatform_v1.types import BatchPredictionJob as JobV1
from google.cloud.aiplatform_v1beta1.types import BatchPredictionJob as JobV1beta1
from google.protobuf import json_format

from tests.unit.spec.cases import LOCATION, PROJECT, VALID_CASES, clean
from vbq.spec import JobSpec


def _resolve(spec: JobSpec) -> dict[str, object]:
    req = spec.resolve(default_project=PROJECT, default_location=LOCATION)
    return {"body": req.body, "api": req.api_version, "parent": req.parent, "model": req.model}


@pytest.mark.parametrize("case", sorted(VALID_CASES))
def test_json_round_trip(case: str) -> None:
    spec = JobSpec.from_sdk_kwargs(**clean(VALID_CASES[case]()))
    text = spec.to_json()
    again = JobSpec.from_json(text)
    assert again == spec
    assert again.to_json() == text
    assert again.fingerprint() == spec.fingerprint()
    assert _resolve(again) == _resolve(spec)
    assert JobSpec.from_dict(spec.to_dict()) == spec
    assert JobSpec.from_dict(json.loads(text)) == spec
    assert JobSpec.from_json(text.encode("utf-8")) == spec


@pytest.mark.parametrize("case", sorted(VALID_CASES))
def test_body_parses_as_google_message(case: str) -> None:
    req = JobSpec.from_sdk_kwargs(**clean(VALID_CASES[case]())).resolve(
        default_project=PROJECT, default_location=LOCATION
    )
    job_type = JobV1beta1 if req.api_version == "v1beta1" else JobV1
    message = job_type.pb(job_type())
    json_format.ParseDict(req.body, message, ignore_unknown_fields=False)
    assert message.display_name == req.body["displayName"]
    assert message.model == req.model
    # Re-serializing Google's message gives back the very same body: nothing was dropped.
    assert json_format.MessageToDict(message, use_integers_for_enums=True) == req.body
    if req.api_version == "v1":
        with pytest.raises(json_format.ParseError):
            json_format.ParseDict(
                {**req.body, "modelMonitoringConfig": {}},
                JobV1.pb(JobV1()),
                ignore_unknown_fields=False,
            )


def test_resolve_is_deterministic_and_returns_fresh_bodies() -> None:
    spec = JobSpec.from_sdk_kwargs(**clean(VALID_CASES["no_display_name"]()))
    first = spec.resolve(default_project=PROJECT, default_location=LOCATION)
    first.body["labels"] = {"mutated": "yes"}
    second = spec.resolve(default_project=PROJECT, default_location=LOCATION)
    assert "labels" not in second.body
    assert second.body["displayName"] == f"BatchPredictionJob {spec.fingerprint()[:16]}"


def test_equivalent_inputs_give_equal_specs() -> None:
    a = JobSpec.from_sdk_kwargs(**clean(VALID_CASES["minimal"]()))
    b = JobSpec.from_sdk_kwargs(
        **{
            **clean(VALID_CASES["minimal"]()),
            "gcs_source": ["gs://in-bucket/instances.jsonl"],
            "instances_format": "jsonl",
            "predictions_format": "jsonl",
            "generate_explanation": False,
            "labels": {},
            "credentials": None,
        }
    )
    assert a == b
    assert a.fingerprint() == b.fingerprint()
    assert hash(a) == hash(b)


def test_different_specs_have_different_fingerprints() -> None:
    # An empty model_parameters is dropped like the SDK drops it: that case equals "minimal".
    distinct = {
        name: make for name, make in VALID_CASES.items() if name != "model_parameters_empty"
    }
    fingerprints = {
        JobSpec.from_sdk_kwargs(**clean(make())).fingerprint() for make in distinct.values()
    }
    assert len(fingerprints) == len(distinct)
    empty = JobSpec.from_sdk_kwargs(**clean(VALID_CASES["model_parameters_empty"]()))
    assert empty == JobSpec.from_sdk_kwargs(**clean(VALID_CASES["minimal"]()))
    assert all(len(f) == 64 and int(f, 16) >= 0 for f in fingerprints)
