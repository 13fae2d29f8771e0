"""Where a job reads its instances and writes its predictions, and in which formats.

Rules: exactly one of ``gcs_source`` / ``bigquery_source`` and exactly one of
``gcs_destination_prefix`` / ``bigquery_destination_prefix``; formats from the SDK's lists
(:data:`~vbq.spec.parameters.INPUT_FORMATS`, :data:`~vbq.spec.parameters.OUTPUT_FORMATS`).
BigQuery input and output always use format ``"bigquery"`` (the SDK overrides the argument), so
another explicit format is a contradiction, and ``"bigquery"`` with Cloud Storage cannot work.
The URI rules themselves are in :mod:`vbq.spec.uris`.
"""

from __future__ import annotations

from typing import Any

from vbq.spec.parameters import INPUT_FORMATS, OUTPUT_FORMATS
from vbq.spec.problems import Problems, shown
from vbq.spec.uris import MAX_GCS_SOURCE_URIS, bigquery_destination, bigquery_source, gcs_uri
from vbq.spec.values import as_str

__all__ = ["validate_io"]


def _format(
    problems: Problems, kwargs: dict[str, Any], name: str, allowed: tuple[str, ...]
) -> str | None:
    if name not in kwargs:
        return None
    text = as_str(problems, name, kwargs[name])
    if text is not None and text not in allowed:
        problems.add(name, "choice", f"must be one of {', '.join(allowed)}; got {shown(text)}")
        return None
    return text


def validate_io(problems: Problems, kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    """Check the source, destination and formats in ``kwargs``; canonical values into ``out``."""
    instances = _format(problems, kwargs, "instances_format", INPUT_FORMATS)
    predictions = _format(problems, kwargs, "predictions_format", OUTPUT_FORMATS)
    has_gcs, has_bq = "gcs_source" in kwargs, "bigquery_source" in kwargs
    if has_gcs:
        out["gcs_source"] = _gcs_sources(problems, kwargs["gcs_source"])
    if has_bq:
        out["bigquery_source"] = bigquery_source(
            problems, "bigquery_source", kwargs["bigquery_source"]
        )
    if has_gcs == has_bq:
        what = "both were given" if has_gcs else "neither was given"
        for field in ("gcs_source", "bigquery_source") if has_gcs else ("gcs_source",):
            problems.add(
                field, "one_source", f"give exactly one of gcs_source or bigquery_source; {what}"
            )
    has_gcs_out = "gcs_destination_prefix" in kwargs
    has_bq_out = "bigquery_destination_prefix" in kwargs
    if has_gcs_out:
        out["gcs_destination_prefix"] = gcs_uri(
            problems, "gcs_destination_prefix", kwargs["gcs_destination_prefix"]
        )
    if has_bq_out:
        out["bigquery_destination_prefix"] = bigquery_destination(
            problems, "bigquery_destination_prefix", kwargs["bigquery_destination_prefix"]
        )
    if has_gcs_out == has_bq_out:
        what = "both were given" if has_gcs_out else "neither was given"
        fields = ("gcs_destination_prefix", "bigquery_destination_prefix")
        for field in fields if has_gcs_out else fields[:1]:
            problems.add(
                field,
                "one_destination",
                "give exactly one of gcs_destination_prefix or bigquery_destination_prefix; "
                + what,
            )
    # BigQuery input and output always use format "bigquery" (the SDK overrides the argument);
    # an explicit other format is a contradiction, and "bigquery" with GCS cannot work.
    out["instances_format"] = _paired_format(
        problems, "instances_format", instances, bq=has_bq and not has_gcs, gcs=has_gcs
    )
    out["predictions_format"] = _paired_format(
        problems,
        "predictions_format",
        predictions,
        bq=has_bq_out and not has_gcs_out,
        gcs=has_gcs_out,
    )


def _paired_format(
    problems: Problems, name: str, given: str | None, *, bq: bool, gcs: bool
) -> str | None:
    if bq:
        if given not in (None, "bigquery"):
            problems.add(
                name,
                "bigquery_format",
                f"must be 'bigquery' (or omitted) with BigQuery; got {given!r}",
            )
        return "bigquery"
    if gcs and given == "bigquery":
        problems.add(name, "bigquery_format", "'bigquery' needs a BigQuery source or destination")
        return None
    return None if given == "jsonl" else given


def _gcs_sources(problems: Problems, value: object) -> tuple[str, ...] | None:
    if isinstance(value, str):
        uri = gcs_uri(problems, "gcs_source", value)
        return None if uri is None else (uri,)
    if not isinstance(value, list | tuple):
        problems.add(
            "gcs_source",
            "type",
            f"must be a gs:// URI or a list of them, got {type(value).__name__}",
        )
        return None
    if not value:
        problems.add("gcs_source", "empty", "must list at least one gs:// URI")
        return None
    if len(value) > MAX_GCS_SOURCE_URIS:
        problems.add("gcs_source", "count", f"at most {MAX_GCS_SOURCE_URIS} URIs, got {len(value)}")
        return None
    uris = [gcs_uri(problems, f"gcs_source[{i}]", item) for i, item in enumerate(value)]
    return None if any(uri is None for uri in uris) else tuple(u for u in uris if u is not None)
