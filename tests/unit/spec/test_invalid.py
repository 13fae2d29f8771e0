"""A table of invalid specs: each raises SpecError naming the offending field, nothing else."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.unit.spec.cases import LOCATION, PROJECT
from vbq.errors import SpecError
from vbq.spec import JobSpec

DROP = object()  # marks a base parameter to leave out
DEEP = object()  # replaced by a dict nested 40 levels deep

BASE: dict[str, Any] = {
    "job_display_name": "ok",
    "model_name": "456",
    "gcs_source": "gs://in-bucket/x.jsonl",
    "gcs_destination_prefix": "gs://out-bucket/y",
}
DEDICATED = {"machine_type": "n1-standard-4"}
OBJECTIVE = {"model_monitoring_objective_config": {"trainingDataset": {"targetField": "y"}}}


class Junk:
    """An object of no accepted type."""


class Exploding:
    """A junk object whose every dunder raises."""

    def __repr__(self) -> str:
        raise RuntimeError("boom")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    __hash__ = object.__hash__


LONG = "x" * 129
INJECTIONS = ["'; DROP TABLE jobs; --", "../../etc/passwd", "a\nb", "$(rm -rf /)", "<script>"]

# (id, overrides, field expected in SpecError.fields)
CASES: list[tuple[str, dict[str, Any], str]] = [
    # -- parameters that do not exist or have no meaning in a queue
    ("unknown_kwarg", {"foo": 1}, "foo"),
    ("typo_kwarg", {"gcs_sources": ["gs://in-bucket/x"]}, "gcs_sources"),
    (
        "sdk_private_kwarg",
        {"reservation_affinity_type": "ANY_RESERVATION"},
        "reservation_affinity_type",
    ),
    ("wait_for_completion", {"wait_for_completion": True}, "wait_for_completion"),
    ("credentials", {"credentials": Junk()}, "credentials"),
    ("sync_true", {"sync": True}, "sync"),
    ("sync_false", {"sync": False}, "sync"),
    # -- job_display_name
    ("display_name_empty", {"job_display_name": ""}, "job_display_name"),
    ("display_name_blank", {"job_display_name": "   "}, "job_display_name"),
    ("display_name_long", {"job_display_name": LONG}, "job_display_name"),
    ("display_name_newline", {"job_display_name": "a\nb"}, "job_display_name"),
    ("display_name_nul", {"job_display_name": "a\x00b"}, "job_display_name"),
    ("display_name_line_sep", {"job_display_name": "a\u2028b"}, "job_display_name"),
    ("display_name_surrogate", {"job_display_name": "a\ud800"}, "job_display_name"),
    ("display_name_int", {"job_display_name": 5}, "job_display_name"),
    ("display_name_bytes", {"job_display_name": b"name"}, "job_display_name"),
    ("display_name_list", {"job_display_name": ["a"]}, "job_display_name"),
    # -- model_name
    ("model_missing", {"model_name": DROP}, "model_name"),
    ("model_empty", {"model_name": ""}, "model_name"),
    ("model_int", {"model_name": 456}, "model_name"),
    ("model_bare_gemini", {"model_name": "gemini-2.0-flash-001"}, "model_name"),
    ("model_slashes", {"model_name": "models/456"}, "model_name"),
    ("model_bad_location", {"model_name": "projects/p1234x/locations/Moon/models/4"}, "model_name"),
    (
        "model_spaces",
        {"model_name": "projects/my project/locations/us-central1/models/4"},
        "model_name",
    ),
    ("model_two_versions", {"model_name": "456@1@2"}, "model_name"),
    ("model_trailing_at", {"model_name": "456@"}, "model_name"),
    ("model_traversal", {"model_name": "../../etc"}, "model_name"),
    ("model_sql", {"model_name": "'; DROP TABLE models"}, "model_name"),
    ("model_newline", {"model_name": "456\n"}, "model_name"),
    ("model_publisher_no_model", {"model_name": "publishers/google/models/"}, "model_name"),
    ("model_publisher_upper", {"model_name": "publishers/Google/models/x"}, "model_name"),
    (
        "model_location_mismatch",
        {"model_name": "projects/my-project/locations/europe-west4/models/4", "location": LOCATION},
        "model_name",
    ),
    ("model_too_long", {"model_name": "a" * 2000}, "model_name"),
    # -- formats
    ("instances_format_bad", {"instances_format": "parquet"}, "instances_format"),
    ("instances_format_case", {"instances_format": "JSONL"}, "instances_format"),
    ("instances_format_int", {"instances_format": 1}, "instances_format"),
    ("instances_format_bigquery_with_gcs", {"instances_format": "bigquery"}, "instances_format"),
    ("predictions_format_bad", {"predictions_format": "tf-record"}, "predictions_format"),
    (
        "predictions_format_bigquery_with_gcs",
        {"predictions_format": "bigquery"},
        "predictions_format",
    ),
    (
        "instances_format_csv_with_bigquery",
        {"gcs_source": DROP, "bigquery_source": "bq://my-project.d.t", "instances_format": "csv"},
        "instances_format",
    ),
    (
        "predictions_format_csv_with_bigquery",
        {
            "gcs_destination_prefix": DROP,
            "bigquery_destination_prefix": "my-project",
            "predictions_format": "csv",
        },
        "predictions_format",
    ),
    # -- sources
    ("no_source", {"gcs_source": DROP}, "gcs_source"),
    ("two_sources", {"bigquery_source": "bq://my-project.d.t"}, "bigquery_source"),
    ("gcs_source_empty_str", {"gcs_source": ""}, "gcs_source"),
    ("gcs_source_empty_list", {"gcs_source": []}, "gcs_source"),
    ("gcs_source_http", {"gcs_source": "https://storage.googleapis.com/b/x"}, "gcs_source"),
    ("gcs_source_s3", {"gcs_source": "s3://bucket/x"}, "gcs_source"),
    ("gcs_source_no_bucket", {"gcs_source": "gs://"}, "gcs_source"),
    ("gcs_source_bad_bucket", {"gcs_source": "gs://UPPER/x"}, "gcs_source"),
    ("gcs_source_traversal", {"gcs_source": "gs://in-bucket/../../etc/passwd"}, "gcs_source"),
    ("gcs_source_space", {"gcs_source": "gs://in-bucket/a b"}, "gcs_source"),
    ("gcs_source_newline", {"gcs_source": "gs://in-bucket/a\nb"}, "gcs_source"),
    ("gcs_source_list_item", {"gcs_source": ["gs://in-bucket/a", "file:///etc"]}, "gcs_source[1]"),
    ("gcs_source_list_int", {"gcs_source": ["gs://in-bucket/a", 3]}, "gcs_source[1]"),
    ("gcs_source_dict", {"gcs_source": {"uri": "gs://in-bucket/a"}}, "gcs_source"),
    ("gcs_source_set", {"gcs_source": {"gs://in-bucket/a"}}, "gcs_source"),
    ("gcs_source_too_many", {"gcs_source": ["gs://in-bucket/a"] * 1001}, "gcs_source"),
    ("gcs_source_too_long", {"gcs_source": "gs://in-bucket/" + "a" * 2000}, "gcs_source"),
    (
        "bq_source_no_scheme",
        {"gcs_source": DROP, "bigquery_source": "my-project.d.t"},
        "bigquery_source",
    ),
    (
        "bq_source_no_table",
        {"gcs_source": DROP, "bigquery_source": "bq://my-project.d"},
        "bigquery_source",
    ),
    (
        "bq_source_sql",
        {"gcs_source": DROP, "bigquery_source": "bq://p'; DROP TABLE x"},
        "bigquery_source",
    ),
    ("bq_source_int", {"gcs_source": DROP, "bigquery_source": 7}, "bigquery_source"),
    ("bq_source_empty", {"gcs_source": DROP, "bigquery_source": ""}, "bigquery_source"),
    # -- destinations
    ("no_destination", {"gcs_destination_prefix": DROP}, "gcs_destination_prefix"),
    (
        "two_destinations",
        {"bigquery_destination_prefix": "my-project"},
        "bigquery_destination_prefix",
    ),
    ("gcs_dest_http", {"gcs_destination_prefix": "http://x/y"}, "gcs_destination_prefix"),
    ("gcs_dest_empty", {"gcs_destination_prefix": ""}, "gcs_destination_prefix"),
    ("gcs_dest_list", {"gcs_destination_prefix": ["gs://out-bucket/y"]}, "gcs_destination_prefix"),
    (
        "gcs_dest_dot_segment",
        {"gcs_destination_prefix": "gs://out-bucket/./y"},
        "gcs_destination_prefix",
    ),
    (
        "bq_dest_bad",
        {"gcs_destination_prefix": DROP, "bigquery_destination_prefix": "bq://my project"},
        "bigquery_destination_prefix",
    ),
    (
        "bq_dest_gs",
        {"gcs_destination_prefix": DROP, "bigquery_destination_prefix": "gs://out-bucket"},
        "bigquery_destination_prefix",
    ),
    (
        "bq_dest_table",
        {"gcs_destination_prefix": DROP, "bigquery_destination_prefix": "bq://my-project.d.t.x"},
        "bigquery_destination_prefix",
    ),
    # -- model_parameters
    ("params_nan", {"model_parameters": {"t": math.nan}}, "model_parameters.t"),
    ("params_inf", {"model_parameters": {"t": math.inf}}, "model_parameters.t"),
    ("params_set", {"model_parameters": {"t": {1, 2}}}, "model_parameters.t"),
    ("params_bytes", {"model_parameters": {"t": b"x"}}, "model_parameters.t"),
    ("params_object", {"model_parameters": Junk()}, "model_parameters"),
    ("params_int_key", {"model_parameters": {1: "x"}}, "model_parameters"),
    ("params_huge_int", {"model_parameters": {"n": 2**60}}, "model_parameters.n"),
    ("params_deep", {"model_parameters": DEEP}, "model_parameters"),
    ("params_big", {"model_parameters": {"s": "x" * 1_000_001}}, "model_parameters"),
    # -- dedicated resources
    ("machine_type_empty", {"machine_type": ""}, "machine_type"),
    ("machine_type_upper", {"machine_type": "N1-STANDARD-4"}, "machine_type"),
    ("machine_type_sql", {"machine_type": "n1'; DROP"}, "machine_type"),
    ("machine_type_int", {"machine_type": 4}, "machine_type"),
    ("accelerator_without_machine", {"accelerator_type": "NVIDIA_TESLA_T4"}, "accelerator_type"),
    ("accel_count_without_machine", {"accelerator_count": 1}, "accelerator_count"),
    ("starting_without_machine", {"starting_replica_count": 1}, "starting_replica_count"),
    ("max_without_machine", {"max_replica_count": 2}, "max_replica_count"),
    ("batch_size_without_machine", {"batch_size": 8}, "batch_size"),
    (
        "accelerator_unknown",
        {**DEDICATED, "accelerator_type": "NVIDIA_TESLA_Z9"},
        "accelerator_type",
    ),
    ("accelerator_lower", {**DEDICATED, "accelerator_type": "nvidia_tesla_t4"}, "accelerator_type"),
    (
        "accelerator_unspecified",
        {**DEDICATED, "accelerator_type": "ACCELERATOR_TYPE_UNSPECIFIED"},
        "accelerator_type",
    ),
    ("accelerator_int", {**DEDICATED, "accelerator_type": 5}, "accelerator_type"),
    ("accel_count_without_type", {**DEDICATED, "accelerator_count": 1}, "accelerator_count"),
    (
        "accel_count_zero",
        {**DEDICATED, "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 0},
        "accelerator_count",
    ),
    (
        "accel_count_bool",
        {**DEDICATED, "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": True},
        "accelerator_count",
    ),
    ("starting_zero", {**DEDICATED, "starting_replica_count": 0}, "starting_replica_count"),
    ("starting_negative", {**DEDICATED, "starting_replica_count": -1}, "starting_replica_count"),
    ("starting_float", {**DEDICATED, "starting_replica_count": 1.5}, "starting_replica_count"),
    ("starting_str", {**DEDICATED, "starting_replica_count": "2"}, "starting_replica_count"),
    (
        "max_below_starting",
        {**DEDICATED, "starting_replica_count": 5, "max_replica_count": 2},
        "max_replica_count",
    ),
    ("max_overflow", {**DEDICATED, "max_replica_count": 2**31}, "max_replica_count"),
    ("batch_size_zero", {**DEDICATED, "batch_size": 0}, "batch_size"),
    ("batch_size_nan", {**DEDICATED, "batch_size": math.nan}, "batch_size"),
    ("batch_size_bool", {**DEDICATED, "batch_size": False}, "batch_size"),
    # -- explanations
    ("generate_explanation_str", {"generate_explanation": "yes"}, "generate_explanation"),
    ("generate_explanation_int", {"generate_explanation": 1}, "generate_explanation"),
    ("metadata_without_generate", {"explanation_metadata": {"inputs": {}}}, "explanation_metadata"),
    (
        "parameters_without_generate",
        {"explanation_parameters": {"topK": 1}},
        "explanation_parameters",
    ),
    (
        "metadata_generate_false",
        {"generate_explanation": False, "explanation_metadata": {"outputs": {"o": {}}}},
        "explanation_metadata",
    ),
    (
        "metadata_unknown_field",
        {"generate_explanation": True, "explanation_metadata": {"bogus": 1}},
        "explanation_metadata",
    ),
    (
        "metadata_bad_enum",
        {
            "generate_explanation": True,
            "explanation_metadata": {"inputs": {"a": {"encoding": "NOPE"}}},
        },
        "explanation_metadata",
    ),
    (
        "metadata_wrong_type",
        {"generate_explanation": True, "explanation_metadata": "inputs"},
        "explanation_metadata",
    ),
    (
        "parameters_bad_type",
        {"generate_explanation": True, "explanation_parameters": {"topK": "many"}},
        "explanation_parameters",
    ),
    (
        "parameters_nan",
        {"generate_explanation": True, "explanation_parameters": {"topK": math.nan}},
        "explanation_parameters",
    ),
    # -- labels
    ("labels_list", {"labels": ["a"]}, "labels"),
    ("labels_upper_key", {"labels": {"Team": "x"}}, "labels.Team"),
    ("labels_digit_key", {"labels": {"1team": "x"}}, "labels.1team"),
    ("labels_empty_key", {"labels": {"": "x"}}, "labels."),
    ("labels_long_key", {"labels": {"k" * 64: "x"}}, "labels." + "k" * 64),
    ("labels_long_value", {"labels": {"team": "v" * 64}}, "labels.team"),
    ("labels_upper_value", {"labels": {"team": "ML"}}, "labels.team"),
    ("labels_space_value", {"labels": {"team": "a b"}}, "labels.team"),
    ("labels_dot_value", {"labels": {"team": "a.b"}}, "labels.team"),
    ("labels_sql_value", {"labels": {"team": "'; DROP TABLE"}}, "labels.team"),
    ("labels_newline_value", {"labels": {"team": "a\nb"}}, "labels.team"),
    ("labels_int_value", {"labels": {"team": 5}}, "labels.team"),
    ("labels_none_value", {"labels": {"team": None}}, "labels.team"),
    ("labels_int_key", {"labels": {5: "x"}}, "labels.5"),
    ("labels_reserved", {"labels": {"vbq-submission": "x"}}, "labels.vbq-submission"),
    ("labels_reserved_other", {"labels": {"vbq-anything": "x"}}, "labels.vbq-anything"),
    ("labels_too_many", {"labels": {f"k{i}": "v" for i in range(64)}}, "labels"),
    # -- project / location
    ("project_empty", {"project": ""}, "project"),
    ("project_upper", {"project": "My-Project"}, "project"),
    ("project_short", {"project": "abc"}, "project"),
    ("project_traversal", {"project": "../../etc"}, "project"),
    ("project_sql", {"project": "p'; DROP TABLE"}, "project"),
    ("project_int", {"project": 1234567}, "project"),
    ("location_bad", {"location": "moon"}, "location"),
    ("location_upper", {"location": "US-CENTRAL1"}, "location"),
    ("location_path", {"location": "us-central1/../x"}, "location"),
    ("location_newline", {"location": "us-central1\n"}, "location"),
    # -- encryption, service account, timeout
    ("kms_bad", {"encryption_spec_key_name": "my-key"}, "encryption_spec_key_name"),
    (
        "kms_missing_key",
        {"encryption_spec_key_name": "projects/my-project/locations/us-central1/keyRings/r"},
        "encryption_spec_key_name",
    ),
    (
        "kms_location_mismatch",
        {
            "location": LOCATION,
            "encryption_spec_key_name": (
                "projects/my-project/locations/europe-west4/keyRings/r/cryptoKeys/k"
            ),
        },
        "encryption_spec_key_name",
    ),
    ("service_account_bad", {"service_account": "not-an-email"}, "service_account"),
    ("service_account_sql", {"service_account": "a@b.com'; DROP"}, "service_account"),
    ("service_account_empty", {"service_account": ""}, "service_account"),
    ("timeout_zero", {"create_request_timeout": 0}, "create_request_timeout"),
    ("timeout_negative", {"create_request_timeout": -1.0}, "create_request_timeout"),
    ("timeout_nan", {"create_request_timeout": math.nan}, "create_request_timeout"),
    ("timeout_inf", {"create_request_timeout": math.inf}, "create_request_timeout"),
    ("timeout_str", {"create_request_timeout": "30"}, "create_request_timeout"),
    ("timeout_bool", {"create_request_timeout": True}, "create_request_timeout"),
    ("timeout_huge", {"create_request_timeout": 10**400}, "create_request_timeout"),
    # -- model monitoring
    (
        "alert_without_objective",
        {"model_monitoring_alert_config": {"enableLogging": True}},
        "model_monitoring_alert_config",
    ),
    (
        "schema_without_objective",
        {"analysis_instance_schema_uri": "gs://s-bucket/x.yaml"},
        "analysis_instance_schema_uri",
    ),
    (
        "objective_unknown_field",
        {"model_monitoring_objective_config": {"nope": 1}},
        "model_monitoring_objective_config",
    ),
    (
        "objective_empty",
        {"model_monitoring_objective_config": {}},
        "model_monitoring_objective_config",
    ),
    (
        "objective_list",
        {"model_monitoring_objective_config": [{}]},
        "model_monitoring_objective_config",
    ),
    (
        "alert_bad",
        {**OBJECTIVE, "model_monitoring_alert_config": {"emailAlertConfig": {"userEmails": "x"}}},
        "model_monitoring_alert_config",
    ),
    (
        "schema_not_gcs",
        {**OBJECTIVE, "analysis_instance_schema_uri": "/etc/schema.yaml"},
        "analysis_instance_schema_uri",
    ),
    (
        "schema_int",
        {**OBJECTIVE, "analysis_instance_schema_uri": 3},
        "analysis_instance_schema_uri",
    ),
    # -- junk objects in any slot
    ("junk_display_name", {"job_display_name": Junk()}, "job_display_name"),
    ("exploding_labels_value", {"labels": {"team": Exploding()}}, "labels.team"),
    ("exploding_model", {"model_name": Exploding()}, "model_name"),
    ("exploding_params", {"model_parameters": {"x": Exploding()}}, "model_parameters.x"),
]
CASES += [
    (f"injection_{field}_{i}", {field: text}, field)
    for field in ("model_name", "project", "location", "machine_type", "service_account")
    for i, text in enumerate(INJECTIONS)
]


def _nest(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _names(err: SpecError, field: str) -> bool:
    """Whether ``err`` names ``field`` itself or a part of it (``labels.team``, ``x[1]``)."""
    return any(f == field or f.startswith((f"{field}.", f"{field}[")) for f in err.fields)


def _kwargs(overrides: dict[str, Any]) -> dict[str, Any]:
    kwargs = {**BASE, **overrides}
    if overrides.get("model_parameters") is DEEP:
        kwargs["model_parameters"] = _nest(40)
    return {key: value for key, value in kwargs.items() if value is not DROP}


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 100
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("overrides", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_spec_names_the_field(overrides: dict[str, Any], field: str) -> None:
    kwargs = _kwargs(overrides)
    with pytest.raises(SpecError) as info:
        JobSpec.from_sdk_kwargs(**kwargs)
    err = info.value
    assert _names(err, field), (err.fields, str(err))
    assert all(e["rule"] != "internal" for e in err.errors), err.errors
    assert all(e["message"] and e["rule"] for e in err.errors)
    assert len(str(err)) < 4000


@pytest.mark.parametrize(("overrides", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_spec_refused_by_from_dict_too(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        JobSpec.from_dict(_kwargs(overrides))
    assert _names(info.value, field)


def test_the_base_is_valid() -> None:
    spec = JobSpec.from_sdk_kwargs(**BASE)
    assert (
        spec.resolve(default_project=PROJECT, default_location=LOCATION)
        .body["model"]
        .endswith("/456")
    )


def test_every_broken_rule_is_reported_at_once() -> None:
    with pytest.raises(SpecError) as info:
        JobSpec.from_sdk_kwargs(model_name="", gcs_source="x", labels={"A": "b"}, sync=True, foo=1)
    assert set(info.value.fields) >= {
        "model_name",
        "gcs_source",
        "gcs_destination_prefix",
        "labels.A",
        "sync",
        "foo",
    }
