"""The one parameter list (vbq.spec.parameters) against Google's SDK, and what derives from it:
JobSpec's fields and the API's documented request schema."""

from __future__ import annotations

import inspect
from dataclasses import fields

from google.cloud import aiplatform

from vbq.producers.api.schemas import SubmissionRequest
from vbq.spec import SDK_PARAMETERS, JobSpec
from vbq.spec.parameters import REJECTED_PARAMETERS, JobParameters, api_fields


def _keywords(method: object) -> set[str]:
    return {name for name in inspect.signature(method).parameters if name not in ("self", "cls")}


def test_the_list_is_the_sdk_signature() -> None:
    job = aiplatform.BatchPredictionJob
    # submit() has no `sync` (it never blocks); create() has it, and vbq refuses it by name.
    assert set(SDK_PARAMETERS) == _keywords(job.submit) | {"sync"}
    assert {"sync"} <= _keywords(job.create)
    assert len(SDK_PARAMETERS) == len(set(SDK_PARAMETERS))


def test_jobspec_fields_are_the_accepted_parameters() -> None:
    accepted = [item.name for item in fields(JobSpec)]
    assert accepted == [item.name for item in fields(JobParameters)]
    assert set(accepted) | set(REJECTED_PARAMETERS) == set(SDK_PARAMETERS)
    assert not set(accepted) & set(REJECTED_PARAMETERS)


def test_the_api_schema_documents_every_accepted_parameter() -> None:
    schema = SubmissionRequest.model_json_schema()
    properties = schema["properties"]
    for item in api_fields():
        assert item.name in properties, item.name
        assert properties[item.name]["description"] == item.description
        assert len(item.description) > 20, item.name
    assert not set(REJECTED_PARAMETERS) & set(properties)
    assert schema["required"] == ["model_name"]
    assert properties["job_display_name"]["anyOf"][0]["maxLength"] == 128
    assert {"idempotency_key", "metadata"} <= set(properties)
    gcs = {tuple(sorted(alt)) for alt in map(dict.keys, properties["gcs_source"]["anyOf"])}
    assert ("items", "type") in gcs  # a list of URIs, or one URI


def test_defaults_match_the_sdk() -> None:
    sdk = inspect.signature(aiplatform.BatchPredictionJob.submit).parameters
    for item in api_fields():
        if item.required:
            assert sdk[item.name].default is inspect.Parameter.empty
        else:
            assert item.default == sdk[item.name].default, item.name
