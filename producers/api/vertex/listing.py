"""``batchPredictionJobs.list`` from vbq's job store: Google's filter grammar, pagination.

Answers come from the store alone (never from Vertex): the bulk poller keeps each record's
copy of its Vertex job fresh, so any number of clients listing or polling cost Google nothing.

Candidates: the caller's tenant index (``vbq:idx:tenant:{t}``), or, when smaller, the union of
the state indexes a top-level ``state = X`` term allows, or the index of a top-level
``labels.k = "v"`` term (``vbq:idx:label:{k}:{v}``). Every other part of the filter
(``display_name``, ``model_display_name``, ``create_time``, ``update_time``, ``labels.k:*``,
``!=``, ``OR``, ``NOT``) is evaluated on probed fields, at most :data:`MAX_EXAMINED`
candidates per call: a sparse filter answers a short page with a ``nextPageToken``, as
Google's list may. Page tokens are bound to the tenant, parent and filter they came from.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from vbq.producers.api.vertex.errors import bad_request
from vbq.producers.api.vertex.render import display_name, make_view, submission_states_for, view_of
from vbq.producers.ports import StorePort
from vbq.states import JobState, SubmissionState
from vbq.store import SubmissionRecord
from vbq.store.paging import Cursor
from vbq.store.scanning import Probe, ScanQuery
from vbq.vertex.filters import (
    Predicate,
    compile_expression,
    field_name,
    parse_expression,
    referenced_fields,
    required_terms,
    state_name,
)

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_EXAMINED", "MAX_PAGE_SIZE", "list_jobs", "page_size_of"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
"""Larger ``pageSize`` values are clamped, as Google does."""
MAX_EXAMINED = 5000
"""Most candidates one list call probes (the filtering bound)."""

_LIGHT = ("labels", "project", "location")
_HEAVY = ("created_at", "updated_at", "model", "spec", "job")
_TOKEN_VERSION = 1


def page_size_of(raw: int | None) -> int:
    """``pageSize`` → page size: 0 or unset = 100, above 1000 = 1000.

    Raises:
        GoogleApiError: 400 for a negative size.
    """
    if raw is None or raw == 0:
        return DEFAULT_PAGE_SIZE
    if raw < 0:
        raise bad_request([("page_size", "must not be negative")])
    return min(raw, MAX_PAGE_SIZE)


def list_jobs(
    store: StorePort,
    *,
    tenant: str,
    project: str,
    location: str,
    filter_text: str,
    page_size: int,
    page_token: str,
) -> tuple[list[SubmissionRecord], str]:
    """One page of the tenant's jobs under ``projects/{project}/locations/{location}``,
    newest first, and the next page token (``""`` on the last page).

    Raises:
        FilterError: a malformed filter (answered 400 naming ``filter``).
        GoogleApiError: 400 for a page token of another query or a malformed one.
    """
    node = parse_expression(filter_text)
    predicate = compile_expression(node) if node is not None else None
    states: frozenset[SubmissionState] | None = None
    labels: list[tuple[str, str]] = []
    for term in required_terms(node):
        head = field_name(term.path[0])
        if head == "state" and term.op == "=":
            allowed = submission_states_for(JobState[state_name(term.value)])
            states = allowed if states is None else states & allowed
        elif head == "labels" and term.op == "=" and len(term.path) == 2:
            labels.append((term.path[1], term.value))
    heavy = bool(referenced_fields(node) - {"labels"})
    fingerprint = _fingerprint(tenant, project, location, filter_text)

    def accept(probe: Probe) -> bool:
        if probe.get("project") != project or probe.get("location") != location:
            return False
        if predicate is None:
            return True
        return predicate(_probe_view(probe, heavy=heavy))

    query = ScanQuery(
        accept=accept,
        fields=_LIGHT + (_HEAVY if heavy else ()),
        tenant=tenant,
        states=states,
        labels=labels,
    )
    after = _decode(page_token, fingerprint) if page_token else None
    records, page = store.scan(query, page_size=page_size, after=after, max_examined=MAX_EXAMINED)
    # A record may have moved on between the probe and the read: filter what is shown.
    shown = [r for r in records if _still_matches(r, predicate)]
    token = _encode(page.next_cursor, fingerprint) if page.next_cursor is not None else ""
    return shown, token


def _still_matches(record: SubmissionRecord, predicate: Predicate | None) -> bool:
    return predicate is None or predicate(view_of(record))


def _probe_view(probe: Probe, *, heavy: bool) -> Any:
    labels = _json(probe.get("labels")) or {}
    if not heavy:
        # Only labels are filtered on: the other view fields are never read.
        return make_view(
            state=SubmissionState(probe["state"] or "ACCEPTED"),
            job=None,
            labels=labels,
            created_at=0.0,
            updated_at=0.0,
            display="",
            model="",
        )
    job = _json(probe.get("job"))
    spec = _json(probe.get("spec")) or {}
    return make_view(
        state=SubmissionState(probe["state"] or "ACCEPTED"),
        job=job if isinstance(job, Mapping) and job.get("name") else None,
        labels=labels,
        created_at=float(probe.get("created_at") or 0.0),
        updated_at=float(probe.get("updated_at") or 0.0),
        display=display_name(spec, job if isinstance(job, Mapping) else None),
        model=(job or {}).get("model") or probe.get("model") or spec.get("model_name", ""),
    )


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _fingerprint(tenant: str, project: str, location: str, filter_text: str) -> str:
    raw = f"{tenant}\0{project}\0{location}\0{filter_text}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _encode(cursor: Cursor, fingerprint: str) -> str:
    raw = json.dumps([_TOKEN_VERSION, repr(cursor[0]), cursor[1], fingerprint])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str, fingerprint: str) -> Cursor:
    try:
        padded = token + "=" * (-len(token) % 4)
        version, score, member, seen = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if version != _TOKEN_VERSION or not isinstance(member, str) or len(member) != 32:
            raise ValueError("not a page token of this API")
        cursor = (float(score), member)
        if not math.isfinite(cursor[0]):
            raise ValueError("not a page token of this API")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad_request([("page_token", "Invalid page token.")]) from None
    if seen != fingerprint:
        raise bad_request(
            [("page_token", "The page token belongs to a list call with other arguments.")]
        )
    return cursor
