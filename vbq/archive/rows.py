"""Archive rows: one JSON object per expired submission, loadable into BigQuery as is.

Every row has every column of ``bigquery_schema.json`` with one type each: free-form JSON
(``spec``, ``metadata``, ``job``, ``results``) is stored as JSON *text* in STRING columns (so no
column changes type from row to row; query with ``PARSE_JSON`` / ``JSON_VALUE``), labels as a
repeated ``{key, value}`` record (label keys differ between rows), times as UTC timestamps
with microseconds (``2026-12-04T17:00:00.123456Z``), and the timeline (state changes, events,
handler completions: the submission's event history) as the repeated record ``events``.
:func:`record_from_row` turns a row back into the :class:`~vbq.store.SubmissionRecord` it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from vbq.errors import StoreError
from vbq.spec import JobSpec
from vbq.store.records import SubmissionRecord, decode_record
from vbq.store.timeline import parse_entry

__all__ = [
    "ARCHIVE_SCHEMA",
    "archive_row",
    "bigquery_schema",
    "finished_date",
    "record_from_row",
]

ARCHIVE_SCHEMA = "vbq.archive/1"
"""Value of every row's ``archive_schema`` column."""

# Record hash fields kept as plain STRING columns (None when empty).
_TEXT_FIELDS = (
    "tenant",
    "state",
    "project",
    "location",
    "model",
    "job_name",
    "display_name",
    "idempotency_key",
    "last_error",
    "fingerprint",
)
_JSON_FIELDS = ("spec", "metadata", "job", "results")
_TIME_FIELDS = ("created_at", "updated_at", "submitted_at", "finished_at")
_INT_FIELDS = ("attempts", "version")


def _iso(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def finished_date(fields: Mapping[str, str]) -> str:
    """``YYYY-MM-DD`` (UTC) of a record hash's ``finished_at`` (its archive partition)."""
    finished = float(fields.get("finished_at") or fields.get("updated_at") or 0.0)
    return datetime.fromtimestamp(finished, UTC).strftime("%Y-%m-%d")


def archive_row(
    fields: Mapping[str, str], timeline: Sequence[str], *, archived_at_s: float
) -> dict[str, Any]:
    """The archive row of one record hash (str -> str, as stored) and its raw timeline.

    Raises:
        StoreError: the hash has no id or state.
    """
    if not fields.get("id") or not fields.get("state"):
        raise StoreError(f"cannot archive a record without id and state: {dict(fields)!r}")
    row: dict[str, Any] = {"archive_schema": ARCHIVE_SCHEMA, "submission_id": fields["id"]}
    for name in _TEXT_FIELDS:
        row[name] = fields.get(name) or None
    row["tenant"] = fields.get("tenant") or "default"
    for name in _JSON_FIELDS:
        row[name] = fields.get(name) or None
    labels = json.loads(fields["labels"]) if fields.get("labels") else {}
    row["labels"] = [{"key": k, "value": str(v)} for k, v in sorted(labels.items())]
    for name in _INT_FIELDS:
        row[name] = int(fields.get(name) or 0)
    for name in _TIME_FIELDS:
        value = fields.get(name)
        row[name] = _iso(float(value)) if value else None
    row["archived_at"] = _iso(archived_at_s)
    events = []
    for raw in timeline:
        entry = parse_entry(raw)
        if entry is None:
            continue
        events.append(
            {
                "at": _iso(entry.at),
                "kind": entry.kind,
                "state": entry.state or None,
                "previous_state": entry.previous_state,
                "event_type": entry.event_type,
                "subscriber_group": entry.group,
            }
        )
    row["events"] = sorted(events, key=lambda e: str(e["at"]))
    return row


def record_from_row(row: Mapping[str, Any]) -> SubmissionRecord:
    """The submission record an archive row holds.

    Raises:
        StoreError: the row is not a valid archive row.
    """
    try:
        fields: dict[str, str] = {"id": str(row["submission_id"])}
        for name in (*_TEXT_FIELDS, *_JSON_FIELDS):
            fields[name] = str(row.get(name) or "")
        fields["labels"] = json.dumps({lab["key"]: lab["value"] for lab in row.get("labels") or []})
        for name in _INT_FIELDS:
            fields[name] = str(row.get(name) or 0)
        for name in _TIME_FIELDS:
            epoch = _epoch(row.get(name))
            fields[name] = "" if epoch is None else repr(epoch)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"not a vbq archive row: {exc!r}") from None
    return decode_record(fields, spec_loader=JobSpec.from_json)


def bigquery_schema() -> list[dict[str, Any]]:
    """The BigQuery table schema of archive rows (``vbq/archive/bigquery_schema.json``)."""
    text = resources.files("vbq.archive").joinpath("bigquery_schema.json").read_text()
    schema: list[dict[str, Any]] = json.loads(text)
    return schema
