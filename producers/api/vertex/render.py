"""A submission as Google's ``BatchPredictionJob`` resource, under its stable surface name.

* Before Vertex has the job (ACCEPTED, SUBMITTING): the create body vbq will send (display
  name, model, input and output config, labels, ...), state ``JOB_STATE_QUEUED``, ``createTime``
  and ``updateTime`` from the job store's clock.
* Once Vertex has it: the Vertex job's own fields as the poller last stored them (state,
  ``completionStats``, ``outputInfo``, ``error``, ``partialFailures``, times, ...) over that
  body; the ``vbq-submission`` label is vbq's and is not shown.
* REJECTED (Google refused the create for good, or the retries ran out): ``JOB_STATE_FAILED``
  with ``error`` = vbq's last error, as the SDK expects a failed job to carry (its
  ``wait_for_completion`` raises with it). CANCELLED before it was sent: ``JOB_STATE_CANCELLED``
  with error ``CANCELED``, as Google reports a cancelled job.

The result goes through Google's message type, so it has Google's JSON form: camelCase,
int64 as strings, RFC 3339 times, enums as names or (``$alt=json;enum-encoding=int``)
numbers, and a ``readMask`` keeps only the fields asked for.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from google.protobuf import field_mask_pb2, json_format
from google.protobuf.message import Message

from vbq.logs import get_logger
from vbq.producers.api.vertex.errors import GRPC_CODES, bad_request
from vbq.producers.api.vertex.names import job_name
from vbq.spec import SUBMISSION_LABEL, JobSpec
from vbq.spec.model import DEFAULT_DISPLAY_NAME_PREFIX
from vbq.spec.protos import ApiVersion, message_class
from vbq.states import JobState, SubmissionState, parse_job_state
from vbq.store import SubmissionRecord
from vbq.vertex.filters import JobView

__all__ = [
    "job_state",
    "parse_read_mask",
    "render_job",
    "rfc3339",
    "submission_states_for",
    "view_of",
]

_log = get_logger(__name__)
_S = SubmissionState
_WAITING = frozenset({_S.ACCEPTED, _S.SUBMITTING})
_STATUS_RE = re.compile(r"\b(" + "|".join(GRPC_CODES) + r")\b")


def rfc3339(epoch_s: float) -> str:
    """``2024-01-01T00:00:00.123456Z`` for epoch seconds."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job_state(state: SubmissionState, job: Mapping[str, Any] | None) -> JobState:
    """The Vertex state a submission shows on the surface."""
    if state in _WAITING:
        return JobState.JOB_STATE_QUEUED
    if state is _S.REJECTED:
        return JobState.JOB_STATE_FAILED
    if state is _S.SUBMITTED:
        # Vertex answered the create; its answer's state (QUEUED for Gemini, else PENDING).
        try:
            found = parse_job_state((job or {}).get("state", 0))
        except ValueError:
            found = JobState.JOB_STATE_UNSPECIFIED
        return JobState.JOB_STATE_PENDING if found is JobState.JOB_STATE_UNSPECIFIED else found
    return JobState[f"JOB_STATE_{state.value}"]


def submission_states_for(state: JobState) -> frozenset[SubmissionState]:
    """Every submission state that can show as ``state`` (the listing's index hint)."""
    found: set[SubmissionState] = {
        s for s in SubmissionState if s is not _S.SUBMITTED and job_state(s, None) is state
    }
    if not state.finished and state is not JobState.JOB_STATE_UNSPECIFIED:
        found.add(_S.SUBMITTED)  # shows the state of Vertex's create answer, whatever it was
    return frozenset(found)


def _has_vertex_job(record: SubmissionRecord) -> bool:
    return bool(record.job_name) and isinstance((record.job or {}).get("name"), str)


def _request_body(record: SubmissionRecord) -> dict[str, Any]:
    try:
        body = _resolved_body(record.spec, record.project or None, record.location or None)
    except Exception as exc:  # a stored spec always resolves; never fail a read over it
        _log.warning("api.vertex.resolve_failed", submission_id=record.id, error=repr(exc))
        return {"displayName": display_name(record.spec, None), "model": record.model or ""}
    return copy.deepcopy(body)


@lru_cache(maxsize=4096)
def _resolved_body(spec: JobSpec, project: str | None, location: str | None) -> dict[str, Any]:
    # Specs never change: many clients polling the same jobs resolve each one once.
    return spec.resolve(default_project=project, default_location=location).body


def display_name(spec: JobSpec | Mapping[str, Any], job: Mapping[str, Any] | None) -> str:
    """The job's display name: Vertex's, else the request's, else vbq's default."""
    name = (job or {}).get("displayName")
    if isinstance(name, str) and name:
        return name
    given = spec.job_display_name if isinstance(spec, JobSpec) else spec.get("job_display_name")
    if isinstance(given, str) and given:
        return given
    if isinstance(spec, JobSpec):
        return f"{DEFAULT_DISPLAY_NAME_PREFIX} {spec.fingerprint()[:16]}"
    text = json.dumps(dict(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{DEFAULT_DISPLAY_NAME_PREFIX} {hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _rejection(record: SubmissionRecord) -> dict[str, Any]:
    message = record.last_error or "The job could not be created."
    found = _STATUS_RE.search(message)
    if found:
        code = GRPC_CODES[found.group(1)]
    elif message.startswith("invalid spec"):
        code = GRPC_CODES["INVALID_ARGUMENT"]
    elif "retry budget" in message:
        code = GRPC_CODES["UNAVAILABLE"]
    else:
        code = GRPC_CODES["UNKNOWN"]
    return {"code": code, "message": message}


def raw_job(record: SubmissionRecord, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The resource as REST JSON (camelCase, state as its name), before Google's encoding.

    Args:
        body: the record's resolved create body when the caller has it (a create just did).
    """
    resource = copy.deepcopy(dict(body)) if body is not None else _request_body(record)
    job = record.job or {}
    if _has_vertex_job(record):
        for key, value in job.items():
            resource[key] = copy.deepcopy(value)
        if isinstance(job.get("labels"), dict):
            mine = {k: v for k, v in job["labels"].items() if k != SUBMISSION_LABEL}
            resource["labels"] = mine
            if not mine:
                del resource["labels"]
    else:
        resource["createTime"] = rfc3339(record.created_at)
        resource["updateTime"] = rfc3339(record.updated_at)
        if record.state is _S.REJECTED:
            resource["error"] = _rejection(record)
        elif record.state is _S.CANCELLED:
            resource["error"] = {"code": GRPC_CODES["CANCELLED"], "message": "CANCELED"}
        if record.state.finished:
            resource["endTime"] = rfc3339(record.finished_at or record.updated_at)
    resource["name"] = job_name(record.project, record.location, record.id)
    resource["state"] = job_state(record.state, job).name
    return resource


def render_job(
    record: SubmissionRecord,
    *,
    api_version: ApiVersion,
    int_enums: bool,
    mask: field_mask_pb2.FieldMask | None = None,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``BatchPredictionJob`` JSON of ``record`` as Google sends it (``body``: see
    :func:`raw_job`).

    Renderings are cached by record version (every change of a record bumps it), so clients
    polling an unchanged job cost one Redis read each. The result may be shared with other
    callers: serialize it, do not change it.
    """
    if mask is not None:
        return _render(record, api_version, int_enums, mask, body)
    key = (record.id, record.version, record.updated_at, record.state, api_version, int_enums)
    with _RENDERED_LOCK:
        found = _RENDERED.get(key)
    if found is None:
        found = _render(record, api_version, int_enums, None, body)
        with _RENDERED_LOCK:
            if len(_RENDERED) >= _RENDERED_MAX:
                del _RENDERED[next(iter(_RENDERED))]
            _RENDERED[key] = found
    return found


_RENDERED: dict[tuple[str, int, float, SubmissionState, str, bool], dict[str, Any]] = {}
_RENDERED_LOCK = threading.Lock()
_RENDERED_MAX = 4096


def _render(
    record: SubmissionRecord,
    api_version: ApiVersion,
    int_enums: bool,
    mask: field_mask_pb2.FieldMask | None,
    body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    raw = raw_job(record, body)
    if int_enums and mask is None and not _has_vertex_job(record):
        # The body is already Google's wire form (built through its message type, enums as
        # numbers); only the state needs encoding.
        raw["state"] = int(JobState[raw["state"]])
        return raw
    message = message_class("BatchPredictionJob", api_version)()
    try:
        json_format.ParseDict(raw, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        # A Vertex answer vbq's message snapshot cannot hold: keep what fits.
        _log.warning("api.vertex.render_fallback", submission_id=record.id, error=str(exc))
        message = message_class("BatchPredictionJob", api_version)()
        keep = {k: raw[k] for k in ("name", "displayName", "model", "state", "createTime")}
        json_format.ParseDict(keep, message, ignore_unknown_fields=True)
    if mask is not None:
        message = _masked(message, mask)
    out: dict[str, Any] = json_format.MessageToDict(message, use_integers_for_enums=int_enums)
    return out


def _masked(message: Message, mask: field_mask_pb2.FieldMask) -> Message:
    out = type(message)()
    mask.MergeMessage(message, out)
    return out


def parse_read_mask(text: str | None, api_version: ApiVersion) -> field_mask_pb2.FieldMask | None:
    """The ``readMask`` query parameter as a FieldMask (``name`` always kept), or None.

    Raises:
        GoogleApiError: 400 naming ``read_mask`` when a path is not a field of the job.
    """
    if text is None or not text.strip():
        return None
    mask = field_mask_pb2.FieldMask()
    try:
        if "_" in text:
            mask.paths.extend(p.strip() for p in text.split(",") if p.strip())
        else:
            mask.FromJsonString(text.replace(" ", ""))
    except ValueError as exc:
        raise bad_request([("read_mask", str(exc))]) from None
    descriptor: Any = message_class("BatchPredictionJob", api_version).DESCRIPTOR
    if not mask.paths or not mask.IsValidForDescriptor(descriptor):
        raise bad_request([("read_mask", f"{text[:200]!r} names a field BatchPredictionJob lacks")])
    if "name" not in mask.paths:
        mask.paths.append("name")
    return mask


def view_of(record: SubmissionRecord) -> JobView:
    """What a list filter sees of ``record`` (the same values :func:`render_job` shows)."""
    job = record.job if _has_vertex_job(record) else None
    labels = {k: v for k, v in ((job or {}).get("labels") or record.labels).items()}
    labels.pop(SUBMISSION_LABEL, None)
    return make_view(
        state=record.state,
        job=job,
        labels=labels,
        created_at=record.created_at,
        updated_at=record.updated_at,
        display=display_name(record.spec, job),
        model=(job or {}).get("model") or record.model or record.spec.model_name,
    )


def make_view(
    *,
    state: SubmissionState,
    job: Mapping[str, Any] | None,
    labels: Mapping[str, str],
    created_at: float,
    updated_at: float,
    display: str,
    model: str,
) -> JobView:
    """A :class:`JobView` from a record's parts (the listing builds it from probed fields)."""
    return JobView(
        display_name=display,
        model_display_name=str(model).rsplit("/", 1)[-1],
        state=job_state(state, job).name,
        create_time_s=_time((job or {}).get("createTime"), created_at),
        update_time_s=_time((job or {}).get("updateTime"), updated_at),
        labels=dict(labels),
    )


def _time(text: object, fallback: float) -> float:
    if not isinstance(text, str):
        return fallback
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return fallback
