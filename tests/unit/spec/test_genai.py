"""google-genai's ``client.batches.create(model, src, config)`` arguments as SDK kwargs, mapped
as genai maps them for Vertex AI (checked against genai's own transformers)."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import _extra_utils, _transformers, types

from vbq.errors import SpecError
from vbq.spec import JobSpec
from vbq.spec.genai import sdk_kwargs_from_genai, unique_name, vertex_model_name
from vbq.spec.problems import Problems


class _VertexClient:
    vertexai = True


@pytest.mark.parametrize(
    "model",
    [
        "gemini-2.0-flash-001",
        "google/gemini-2.0-flash",
        "publishers/meta/models/llama",
        "projects/p/locations/l/models/1",
        "models/x",
    ],
)
def test_model_names_follow_genai(model: str) -> None:
    assert vertex_model_name(Problems(), model) == _transformers.t_model(_VertexClient(), model)  # type: ignore[arg-type]


def test_gcs_source_gets_genai_defaults() -> None:
    kwargs = sdk_kwargs_from_genai(
        model="gemini-2.0-flash-001", src="gs://bkt/in/a.jsonl", config=None, unique="u1"
    )
    genai_config = _extra_utils.format_destination(
        _transformers.t_batch_job_source(_VertexClient(), "gs://bkt/in/a.jsonl"),  # type: ignore[arg-type]
        types.CreateBatchJobConfig(display_name="genai_batch_job_u1"),
    )
    assert kwargs["gcs_destination_prefix"] == genai_config.dest == "gs://bkt/in/a/dest"
    assert kwargs == {
        "model_name": "publishers/google/models/gemini-2.0-flash-001",
        "gcs_source": ["gs://bkt/in/a.jsonl"],
        "instances_format": "jsonl",
        "job_display_name": "genai_batch_job_u1",
        "gcs_destination_prefix": "gs://bkt/in/a/dest",
        "predictions_format": "jsonl",
    }
    JobSpec.from_sdk_kwargs(**kwargs)


@pytest.mark.parametrize(
    ("src", "config", "expected"),
    [
        (
            "bq://p-roject.d.t",
            None,
            {
                "bigquery_source": "bq://p-roject.d.t",
                "bigquery_destination_prefix": "bq://p-roject.d.t_dest_u1",
            },
        ),
        (
            types.BatchJobSource(format="bigquery", bigquery_uri="bq://p-roject.d.t"),
            {"dest": "gs://bkt/out"},
            {
                "bigquery_source": "bq://p-roject.d.t",
                "instances_format": "bigquery",
                "gcs_destination_prefix": "gs://bkt/out",
                "predictions_format": "jsonl",
            },
        ),
        (
            {"gcs_uri": ["gs://bkt/a.jsonl", "gs://bkt/b.jsonl"]},
            types.CreateBatchJobConfig(
                display_name="x",
                dest=types.BatchJobDestination(format="bigquery", bigquery_uri="bq://p-roject.out"),
            ),
            {
                "gcs_source": ["gs://bkt/a.jsonl", "gs://bkt/b.jsonl"],
                "instances_format": "jsonl",
                "job_display_name": "x",
                "bigquery_destination_prefix": "bq://p-roject.out",
                "predictions_format": "bigquery",
            },
        ),
    ],
)
def test_sources_and_destinations(src: Any, config: Any, expected: dict[str, Any]) -> None:
    kwargs = sdk_kwargs_from_genai(
        model="gemini-2.0-flash-001", src=src, config=config, unique="u1"
    )
    assert {k: v for k, v in kwargs.items() if k in expected} == expected
    JobSpec.from_sdk_kwargs(project="my-project", **kwargs)


@pytest.mark.parametrize(
    ("src", "config", "field"),
    [
        ([{"contents": []}], None, "src"),
        ("files/abc", None, "src"),
        ({"file_name": "files/x"}, {"dest": "gs://bkt/o"}, "src.file_name"),
        (
            {"vertex_dataset_name": "projects/p/locations/l/datasets/1"},
            {"dest": "gs://bkt/o"},
            "src.vertex_dataset_name",
        ),
        ({"gcs_uri": ["gs://bkt/a.csv"]}, None, "config.dest"),
        ("gs://bkt/a.jsonl", {"webhook_config": {"uris": ["https://x"]}}, "config.webhook_config"),
        ("gs://bkt/a.jsonl", {"labels": {"a": "b"}}, "config.labels"),
        ("gs://bkt/a.jsonl", {"dest": "s3://x"}, "config.dest"),
        ("gs://bkt/a.jsonl", 5, "config"),
    ],
)
def test_what_genai_refuses_on_vertex_is_refused_by_name(src: Any, config: Any, field: str) -> None:
    with pytest.raises(SpecError) as info:
        sdk_kwargs_from_genai(model="gemini-2.0-flash-001", src=src, config=config, unique="u")
    assert field in info.value.fields


def test_unique_names_are_stable_with_a_key_and_genai_shaped_without() -> None:
    assert unique_name("t\0k") == unique_name("t\0k") != unique_name("t\0other")
    free = unique_name()
    stamp, rand = free.split("_")
    assert len(stamp) == 14 and stamp.isdigit() and len(rand) == 5
