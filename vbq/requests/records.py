"""Request and pack records: what ``add_requests`` stores and what a handle reads back.

A request lives in the hash ``vbq:req:{id}``; its JSONL line waits in its pack's list until the
pack is flushed. Once answered, the record keeps only what a handle needs: the state, where its
output row is (file, byte offset, length), its token counts and, for a failed row, Google's
``status`` text; the response itself stays in Cloud Storage and is read by range.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from vbq.usage.tokens import Tokens

__all__ = [
    "Answer",
    "NewRequest",
    "PackRecord",
    "PackState",
    "RequestRecord",
    "RequestState",
    "decode_pack",
    "decode_request",
    "request_id_for",
]


class RequestState(StrEnum):
    """State of one request.

    ``PENDING`` waits in an open or sealed pack; ``PACKED`` (shown, never stored) means its
    pack became a submission; ``SUCCEEDED`` has a response; ``FAILED`` has Google's row error
    or its job's error.
    """

    PENDING = "PENDING"
    PACKED = "PACKED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        """True for SUCCEEDED and FAILED."""
        return self in (RequestState.SUCCEEDED, RequestState.FAILED)


class PackState(StrEnum):
    """``OPEN`` takes requests, ``SEALED`` is complete, ``FLUSHED`` became a submission,
    ``DONE`` had every request answered."""

    OPEN = "OPEN"
    SEALED = "SEALED"
    FLUSHED = "FLUSHED"
    DONE = "DONE"


def request_id_for(tenant: str, idempotency_key: str | None) -> str:
    """32 hex characters: ``sha256(f"{tenant}\\0{key}")`` with a key, random without."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"req\0{tenant}\0{idempotency_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class NewRequest:
    """One validated request, ready to be stored (built by the producers' client).

    Attributes:
        request_id: from :func:`request_id_for`.
        tenant: its owner.
        model: the model resource name (``publishers/google/models/gemini-…``).
        project / location: where its packed job runs.
        line: the JSONL line of the packed input (routing labels included), UTF-8.
        fingerprint: sha256 of the canonical (model, request): idempotency conflicts.
        idempotency_key: the caller's key, if any.
        metadata: the caller's JSON object, if any.
        metadata_json: ``metadata`` as compact JSON when the caller already serialised it.
    """

    request_id: str
    tenant: str
    model: str
    project: str
    location: str
    line: bytes
    fingerprint: str
    idempotency_key: str | None = None
    metadata: Mapping[str, Any] | None = None
    metadata_json: str = ""


@dataclass(frozen=True, kw_only=True)
class RequestRecord:
    """One request as stored (times are epoch seconds from the Redis clock)."""

    id: str
    state: RequestState
    tenant: str
    model: str
    project: str = ""
    location: str = ""
    pack_id: str = ""
    idempotency_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    finished_at: float | None = None
    file_index: int | None = None
    offset: int | None = None
    length: int | None = None
    tokens: Tokens = field(default_factory=Tokens)
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class PackRecord:
    """One pack as stored."""

    id: str
    state: PackState
    group: str
    project: str
    location: str
    model: str
    tenant: str
    rows: int = 0
    bytes: int = 0
    created_at: float = 0.0
    sealed_at: float | None = None
    reason: str = ""
    submission_id: str | None = None
    input_uri: str | None = None
    files: list[str] = field(default_factory=list)


class Answer(NamedTuple):
    """The outcome of one request, from its output row (or its job); a named tuple, as the
    unpacker makes one per row."""

    request_id: str
    state: RequestState
    file_index: int = -1
    offset: int = -1
    length: int = -1
    tokens: Tokens = Tokens()
    error: str = ""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _flat(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _opt_int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") and int(value) >= 0 else None


def decode_request(raw: Mapping[Any, Any]) -> RequestRecord:
    """A request record from its Redis hash (bytes or str)."""
    h = _flat(raw)
    return RequestRecord(
        id=h["id"],
        state=RequestState(h.get("state", "PENDING")),
        tenant=h.get("tenant", ""),
        model=h.get("model", ""),
        project=h.get("project", ""),
        location=h.get("location", ""),
        pack_id=h.get("pack", ""),
        idempotency_key=h.get("idempotency_key") or None,
        metadata=json.loads(h["metadata"]) if h.get("metadata") else {},
        created_at=float(h.get("created_at") or 0.0),
        finished_at=float(h["finished_at"]) if h.get("finished_at") else None,
        file_index=_opt_int(h.get("file")),
        offset=_opt_int(h.get("offset")),
        length=_opt_int(h.get("length")),
        tokens=Tokens.decode(h.get("usage", "")),
        error=h.get("error") or None,
    )


def decode_pack(raw: Mapping[Any, Any]) -> PackRecord:
    """A pack record from its Redis hash."""
    h = _flat(raw)
    return PackRecord(
        id=h["id"],
        state=PackState(h.get("state", "OPEN")),
        group=h.get("group", ""),
        project=h.get("project", ""),
        location=h.get("location", ""),
        model=h.get("model", ""),
        tenant=h.get("tenant", ""),
        rows=int(h.get("rows") or 0),
        bytes=int(h.get("bytes") or 0),
        created_at=float(h.get("created_at") or 0.0),
        sealed_at=float(h["sealed_at"]) if h.get("sealed_at") else None,
        reason=h.get("reason", ""),
        submission_id=h.get("submission_id") or None,
        input_uri=h.get("input_uri") or None,
        files=json.loads(h["files"]) if h.get("files") else [],
    )
