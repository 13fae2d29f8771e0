"""Submission records: what goes into the store and what comes out.

A record lives in the Redis hash ``vbq:sub:{id}``; every value is a string. Empty strings stand
for None; ``spec``, ``labels``, ``metadata`` and ``job`` are JSON; times are epoch seconds with
microseconds, taken from Redis ``TIME`` inside the Lua scripts (never from a host clock).
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vbq.errors import SpecError, StoreError
from vbq.scheduler.keys import PRIORITIES
from vbq.spec import JobSpec
from vbq.states import SubmissionState

__all__ = [
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "NewSubmission",
    "SpecLoader",
    "SubmissionRecord",
    "decode_record",
    "submission_id_for",
]

SpecLoader = Callable[[str], JobSpec]
"""Turns stored spec JSON back into a spec (default: :meth:`JobSpec.from_json`)."""

MAX_IDEMPOTENCY_KEY_CHARS = 256
MAX_TENANT_CHARS = 128


def submission_id_for(tenant: str, idempotency_key: str | None) -> str:
    """The submission id: deterministic for an idempotency key, random otherwise.

    32 lowercase hex characters (docs/contracts.md § Ids), valid as a Vertex label value.
    """
    if idempotency_key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{tenant}\0{idempotency_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class NewSubmission:
    """A request to store one new submission.

    Args:
        spec: the validated job spec.
        tenant: who owns it; listing and ``get`` are scoped by it.
        idempotency_key: the same key (per tenant) always maps to the same submission id.
        metadata: free JSON-serialisable data carried into every event.
        priority: ``interactive``, ``default`` or ``bulk`` (docs/contracts.md § Scheduler).
        locations: where the job may run (the scheduler places it where capacity is free,
            docs/contracts.md § Placement); empty: where the spec says. Checked by
            :func:`vbq.places.placement_problems`.

    Raises:
        SpecError: tenant empty or too long, idempotency key empty or longer than 256
            characters, or metadata not a JSON-serialisable dict (names the field).
    """

    spec: JobSpec
    tenant: str = "default"
    idempotency_key: str | None = None
    metadata: Mapping[str, Any] | None = None
    priority: str = "default"
    locations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.priority not in PRIORITIES:
            raise SpecError.single(
                "priority", "enum", f"priority must be one of {', '.join(PRIORITIES)}"
            )
        if not self.tenant or len(self.tenant) > MAX_TENANT_CHARS:
            raise SpecError.single(
                "tenant", "length", f"tenant must be 1..{MAX_TENANT_CHARS} characters"
            )
        key = self.idempotency_key
        if key is not None and (not key or len(key) > MAX_IDEMPOTENCY_KEY_CHARS):
            raise SpecError.single(
                "idempotency_key",
                "length",
                f"idempotency_key must be 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters",
            )
        if self.metadata is not None:
            if not isinstance(self.metadata, Mapping):
                raise SpecError.single("metadata", "type", "metadata must be a JSON object")
            try:
                json.dumps(dict(self.metadata), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise SpecError.single(
                    "metadata", "json", f"metadata must be JSON-serialisable: {exc}"
                ) from None


@dataclass(frozen=True, kw_only=True)
class SubmissionRecord:
    """One submission as stored (docs/contracts.md § Job store).

    Times are epoch seconds (float) from the Redis server's clock; ``submitted_at`` and
    ``finished_at`` are None until the submission gets there. ``version`` starts at 1 and grows
    by one on every change, so readers can tell records apart without comparing fields.
    """

    id: str
    state: SubmissionState
    spec: JobSpec
    tenant: str
    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    project: str = ""
    location: str = ""
    model: str | None = None
    job_name: str | None = None
    job: dict[str, Any] | None = None
    """The last Vertex ``BatchPredictionJob`` resource seen, as returned by the API."""
    attempts: int = 0
    last_error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    submitted_at: float | None = None
    finished_at: float | None = None
    version: int = 1
    results: dict[str, Any] | None = None
    """What the job's outputs held, once read: request counts, token sums, estimated cost,
    parts of a split submission (docs/contracts.md § Requests and packing)."""
    priority: str = "default"
    """Scheduling priority within the tenant: ``interactive``, ``default`` or ``bulk``."""
    locations: tuple[str, ...] = ()
    """The acceptable locations it was submitted with (empty: the spec's); ``location`` is
    the one chosen once placed (the first one until then)."""

    @property
    def finished(self) -> bool:
        """True when the submission will never change state again."""
        return self.state.finished

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (the spec as its dict, the state as its name)."""
        return {
            "id": self.id,
            "state": self.state.value,
            "spec": self.spec.to_dict(),
            "tenant": self.tenant,
            "labels": dict(self.labels),
            "metadata": dict(self.metadata),
            "idempotency_key": self.idempotency_key,
            "project": self.project,
            "location": self.location,
            "locations": list(self.locations),
            "model": self.model,
            "job_name": self.job_name,
            "job": self.job,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "version": self.version,
            "results": self.results,
        }


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _opt(value: str) -> str | None:
    return value or None


def _opt_float(value: str) -> float | None:
    return float(value) if value else None


def _json_obj(value: str, default: Any) -> Any:
    return json.loads(value) if value else default


def decode_record(
    raw: Mapping[Any, Any], *, spec_loader: SpecLoader = JobSpec.from_json
) -> SubmissionRecord:
    """Build a record from the flat hash Redis returned (bytes or str keys and values).

    Raises:
        StoreError: the hash is not a valid record (missing id, state or spec).
    """
    h = {_text(k): _text(v) for k, v in raw.items()}
    try:
        return SubmissionRecord(
            id=h["id"],
            state=SubmissionState(h["state"]),
            spec=spec_loader(h["spec"]),
            tenant=h.get("tenant", "default"),
            labels=_json_obj(h.get("labels", ""), {}),
            metadata=_json_obj(h.get("metadata", ""), {}),
            idempotency_key=_opt(h.get("idempotency_key", "")),
            project=h.get("project", ""),
            location=h.get("location", ""),
            model=_opt(h.get("model", "")),
            job_name=_opt(h.get("job_name", "")),
            job=_json_obj(h.get("job", ""), None),
            attempts=int(h.get("attempts") or 0),
            last_error=_opt(h.get("last_error", "")),
            created_at=float(h.get("created_at") or 0.0),
            updated_at=float(h.get("updated_at") or 0.0),
            submitted_at=_opt_float(h.get("submitted_at", "")),
            finished_at=_opt_float(h.get("finished_at", "")),
            version=int(h.get("version") or 1),
            results=_json_obj(h.get("results", ""), None),
            priority=h.get("priority") or "default",
            locations=tuple(x for x in h.get("locations", "").split(",") if x),
        )
    except (KeyError, ValueError) as exc:
        raise StoreError(f"corrupt submission record {h.get('id', '?')}: {exc!r}") from None


def flat_pairs(raw: list[Any]) -> dict[str, str]:
    """Turn a Lua ``HGETALL`` reply (a flat list) into a dict."""
    it = iter(raw)
    return {_text(k): _text(v) for k, v in zip(it, it, strict=True)}


# Fields a transition may set; everything else is owned by the store's scripts.
UPDATABLE_FIELDS: frozenset[str] = frozenset(
    # placement_avoid: the place that refused a create before it was placed again
    # (docs/contracts.md § Placement).
    {"job_name", "job", "metadata", "last_error", "model", "results", "placement_avoid"}
)
SERVER_TIME_FIELDS: frozenset[str] = frozenset({"submitted_at"})


def encode_updates(updates: Mapping[str, Any] | None) -> dict[str, str]:
    """Encode transition field updates for the hash: dicts as JSON, None as ``""``.

    Raises:
        StoreError: a field is not updatable or a value cannot be encoded.
    """
    out: dict[str, str] = {}
    for name, value in (updates or {}).items():
        if name in SERVER_TIME_FIELDS:
            # Times come from the Redis clock only (host clocks drift); callers may still
            # pass them, as they mean "now", and the script writes the server's now.
            continue
        if name not in UPDATABLE_FIELDS:
            raise StoreError(
                f"field {name!r} cannot be updated (allowed: {', '.join(sorted(UPDATABLE_FIELDS))})"
            )
        if value is None:
            out[name] = ""
        elif isinstance(value, dict | list):
            try:
                out[name] = json.dumps(value, separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise StoreError(f"field {name!r} is not JSON-serialisable: {exc}") from None
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise StoreError(f"field {name!r} must be finite")
            out[name] = repr(value)
        else:
            out[name] = str(value)
    return out
