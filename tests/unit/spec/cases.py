"""Valid ``submit()`` keyword sets shared by the spec tests (fresh objects on every call)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PROJECT = "my-project"
LOCATION = "us-central1"
MODEL = "projects/123/locations/us-central1/models/456"
GEMINI = "publishers/google/models/gemini-2.0-flash-001"


def _base(**extra: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "job_display_name": "nightly scoring",
        "model_name": "456",
        "gcs_source": "gs://in-bucket/instances.jsonl",
        "gcs_destination_prefix": "gs://out-bucket/predictions",
    }
    kwargs.update(extra)
    return kwargs


def _explanation_objects() -> dict[str, Any]:
    from google.cloud.aiplatform import explain

    return _base(
        generate_explanation=True,
        explanation_metadata=explain.ExplanationMetadata(
            inputs={"age": {"input_tensor_name": "age_in", "encoding": "IDENTITY"}},
            outputs={"score": {"output_tensor_name": "score_out"}},
        ),
        explanation_parameters=explain.ExplanationParameters(
            {"sampled_shapley_attribution": {"path_count": 10}, "top_k": 3}
        ),
    )


def _monitoring_objects(*, alert: bool, schema: bool) -> dict[str, Any]:
    from google.cloud.aiplatform import model_monitoring

    extra: dict[str, Any] = {
        "model_monitoring_objective_config": model_monitoring.ObjectiveConfig(
            skew_detection_config=model_monitoring.SkewDetectionConfig(
                data_source="gs://train-bucket/train.csv",
                target_field="label",
                skew_thresholds={"age": 0.3},
                data_format="csv",
            ),
            drift_detection_config=model_monitoring.DriftDetectionConfig(
                drift_thresholds={"age": 0.2}
            ),
        )
    }
    if alert:
        extra["model_monitoring_alert_config"] = model_monitoring.EmailAlertConfig(
            user_emails=["ops@example.com"], enable_logging=True
        )
    if schema:
        extra["analysis_instance_schema_uri"] = "gs://schema-bucket/instance.yaml"
    return _base(**extra)


VALID_CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "minimal": _base,
    "no_display_name": lambda: {k: v for k, v in _base().items() if k != "job_display_name"},
    "gcs_list_csv": lambda: _base(
        gcs_source=["gs://in-bucket/a.csv", "gs://in-bucket/b/*.csv"],
        instances_format="csv",
        predictions_format="csv",
    ),
    "tf_record": lambda: _base(instances_format="tf-record"),
    "tf_record_gzip": lambda: _base(instances_format="tf-record-gzip"),
    "file_list": lambda: _base(instances_format="file-list"),
    "bigquery_both": lambda: _base(
        gcs_source=None,
        gcs_destination_prefix=None,
        bigquery_source="bq://my-project.dataset.table",
        bigquery_destination_prefix="my-project.results",
    ),
    "bigquery_source_gcs_out": lambda: _base(
        gcs_source=None, bigquery_source="bq://my-project.dataset.table"
    ),
    "bigquery_out_prefixed": lambda: _base(
        gcs_destination_prefix=None, bigquery_destination_prefix="bq://other-project"
    ),
    "model_version": lambda: _base(model_name="456@2"),
    "model_alias": lambda: _base(model_name="456@default"),
    "model_full_name": lambda: _base(model_name=MODEL),
    "model_full_versioned": lambda: _base(model_name=MODEL + "@3"),
    "publisher_model": lambda: _base(model_name=GEMINI),
    "publisher_model_full": lambda: _base(
        model_name=f"projects/{PROJECT}/locations/{LOCATION}/{GEMINI}"
    ),
    "machine_type_only": lambda: _base(machine_type="n1-standard-4"),
    "dedicated_full": lambda: _base(
        machine_type="a2-highgpu-1g",
        accelerator_type="NVIDIA_TESLA_A100",
        accelerator_count=1,
        starting_replica_count=2,
        max_replica_count=5,
        batch_size=16,
    ),
    "labels": lambda: _base(labels={"team": "ml", "env": "", "ünïcödé": "日本語"}),
    "model_parameters": lambda: _base(
        model_parameters={"temperature": 0.2, "maxOutputTokens": 100, "stop": ["\n"], "x": None}
    ),
    "model_parameters_empty": lambda: _base(model_parameters={}),
    "generate_explanation": lambda: _base(generate_explanation=True),
    "explanation_objects": _explanation_objects,
    "encryption": lambda: _base(
        encryption_spec_key_name=(
            f"projects/{PROJECT}/locations/{LOCATION}/keyRings/ring-1/cryptoKeys/key_1"
        )
    ),
    "service_account": lambda: _base(service_account="runner@my-project.iam.gserviceaccount.com"),
    "timeout": lambda: _base(create_request_timeout=30.5),
    "explicit_project_location": lambda: _base(project="other-project", location="europe-west4"),
    "project_number": lambda: _base(project="1234567890"),
    "monitoring": lambda: _monitoring_objects(alert=False, schema=False),
    "monitoring_full": lambda: _monitoring_objects(alert=True, schema=True),
    "monitoring_with_explanation": lambda: {
        **_monitoring_objects(alert=True, schema=False),
        **{k: v for k, v in _explanation_objects().items() if k.startswith(("gen", "expl"))},
    },
    "everything": lambda: _base(
        instances_format="csv",
        gcs_source=("gs://in-bucket/a.csv",),
        machine_type="n1-highmem-8",
        accelerator_type="NVIDIA_TESLA_T4",
        accelerator_count=2,
        max_replica_count=3,
        labels={"a": "b"},
        model_parameters={"k": [1, 2.5, "x", True]},
        service_account="sa@my-project.iam.gserviceaccount.com",
        create_request_timeout=60,
    ),
}


def clean(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` without ``None`` values (how a caller who omits a parameter calls submit())."""
    return {key: value for key, value in kwargs.items() if value is not None}
