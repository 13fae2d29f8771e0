"""Cloud Storage and BigQuery locations of a job's input and output.

Rules (stricter than the SDK, which sends any string and lets Vertex fail the job later):

* ``gs://`` URIs need a valid bucket name; object paths may hold wildcards but no ``.``/``..``
  segments, whitespace or control characters; at most 2000 characters.
* ``bigquery_source`` must be ``bq://project.dataset.table`` (the SDK sends it unchanged, so a
  missing ``bq://`` is refused here rather than silently added).
* ``bigquery_destination_prefix`` is ``[bq://]project[.dataset[.table]]``; ``bq://`` is
  prepended when missing, as the SDK does. A full table reference is what Gemini batch jobs
  (and google-genai's default destination) write to: ``BigQueryDestination.output_uri`` takes
  ``bq://projectId``, ``bq://projectId.bqDatasetId`` or ``bq://projectId.bqDatasetId.bqTableId``.
"""

from __future__ import annotations

import re

from vbq.spec.names import PROJECT_RE
from vbq.spec.problems import Problems
from vbq.spec.values import as_text

__all__ = ["MAX_GCS_SOURCE_URIS", "bigquery_destination", "bigquery_source", "gcs_uri"]

MAX_URI_CHARS = 2000
MAX_GCS_SOURCE_URIS = 1000

# Bucket names: 3-63 chars per dot-separated part, lowercase letters, digits, - _ and dots.
_BUCKET = r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]"
_GCS_RE = re.compile(rf"gs://(?P<bucket>{_BUCKET})(?P<path>/[^\s]*)?")
_BQ_TABLE_RE = re.compile(
    rf"bq://(?P<project>{PROJECT_RE.pattern})\.(?P<dataset>[A-Za-z0-9_]{{1,1024}})"
    r"\.(?P<table>[\w$-]{1,1024})"
)
_BQ_DEST_RE = re.compile(
    rf"bq://(?P<project>{PROJECT_RE.pattern})"
    r"(?:\.(?P<dataset>[A-Za-z0-9_]{1,1024})(?:\.(?P<table>[\w$-]{1,1024}))?)?"
)


def gcs_uri(problems: Problems, field: str, value: object) -> str | None:
    """A ``gs://bucket[/path]`` URI, or ``None`` after recording the problem."""
    text = as_text(problems, field, value, max_chars=MAX_URI_CHARS)
    if text is None:
        return None
    match = _GCS_RE.fullmatch(text)
    if not match:
        problems.add(field, "gcs_uri", "must be a Cloud Storage URI like gs://bucket/path")
        return None
    if ".." in match["bucket"]:
        problems.add(field, "gcs_uri", "bucket names may not contain '..'")
        return None
    segments = (match["path"] or "").split("/")[1:]
    if any(segment in {".", ".."} for segment in segments):
        problems.add(field, "path_traversal", "path segments '.' and '..' are not allowed")
        return None
    return text


def bigquery_source(problems: Problems, field: str, value: object) -> str | None:
    """A ``bq://project.dataset.table`` URI, or ``None`` after recording the problem."""
    text = as_text(problems, field, value, max_chars=MAX_URI_CHARS)
    if text is None:
        return None
    if not _BQ_TABLE_RE.fullmatch(text):
        problems.add(
            field, "bigquery_uri", "must be a BigQuery table URI like bq://project.dataset.table"
        )
        return None
    return text


def bigquery_destination(problems: Problems, field: str, value: object) -> str | None:
    """``bq://project[.dataset[.table]]`` (``bq://`` added when missing, like the SDK)."""
    text = as_text(problems, field, value, max_chars=MAX_URI_CHARS)
    if text is None:
        return None
    if not text.startswith("bq://"):
        text = f"bq://{text}"
    if not _BQ_DEST_RE.fullmatch(text):
        problems.add(
            field,
            "bigquery_uri",
            "must be a BigQuery project, dataset or table like bq://project.dataset",
        )
        return None
    return text
