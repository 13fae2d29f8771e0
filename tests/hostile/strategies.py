"""Hypothesis strategies for hostile input: any JSON, wrong types, huge and odd strings."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "gs://",
            "gs:///x",
            "gs://b/../../etc/passwd",
            "bq://",
            "bq://p.d.t; DROP TABLE x",
            "projects/p/locations/us-central1/models/../../x",
            "publishers/google/models/gemini-2.0-flash-001",
            "\u202egnp.exe",
            "${jndi:ldap://x}",
            "{{7*7}}",
            "'; --",
            "a" * 5000,
            "NaN",
            "Infinity",
            "-1",
            "1e309",
            "vbq-submission",
            "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        ]
    ),
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    ODD_TEXT,
)

JSONISH: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(ODD_TEXT, children, max_size=5),
    ),
    max_leaves=20,
)

SDK_NAMES = [
    "job_display_name",
    "model_name",
    "instances_format",
    "predictions_format",
    "gcs_source",
    "bigquery_source",
    "gcs_destination_prefix",
    "bigquery_destination_prefix",
    "model_parameters",
    "machine_type",
    "accelerator_type",
    "accelerator_count",
    "starting_replica_count",
    "max_replica_count",
    "generate_explanation",
    "explanation_metadata",
    "explanation_parameters",
    "labels",
    "project",
    "location",
    "encryption_spec_key_name",
    "create_request_timeout",
    "batch_size",
    "model_monitoring_objective_config",
    "model_monitoring_alert_config",
    "analysis_instance_schema_uri",
    "service_account",
    "credentials",
    "sync",
]

VALID: dict[str, Any] = {
    "job_display_name": "hostile",
    "model_name": "publishers/google/models/gemini-2.0-flash-001",
    "gcs_source": "gs://hostile-in/in.jsonl",
    "gcs_destination_prefix": "gs://hostile-out/out",
}


def _mutated(changes: dict[str, Any]) -> dict[str, Any]:
    return {**VALID, **changes}


SDK_KWARGS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    # A valid request with a few fields replaced by anything.
    st.dictionaries(st.sampled_from(SDK_NAMES), JSONISH, max_size=4).map(_mutated),
    # Any subset of the SDK's names with any values.
    st.dictionaries(st.sampled_from(SDK_NAMES), JSONISH, max_size=8),
    # Unknown names too.
    st.dictionaries(ODD_TEXT, JSONISH, max_size=4).map(_mutated),
)


def nested(depth: int, *, kind: str = "list") -> str:
    """JSON text nested ``depth`` levels deep, built without recursion."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth
