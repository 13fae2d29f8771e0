"""Streaming a finished Gemini job's output rows: routing keys, outcomes and token counts.

Google writes one JSON row per request into ``predictions*.jsonl`` under
``outputInfo.gcsOutputDirectory`` (``{status, processed_time, request, response}``; a non-empty
``status`` marks a failed row). The echoed ``request`` keeps its ``labels``, where the packer
put ``vbq-request`` (the request id) and ``vbq-tenant``. Rows are read a chunk at a time with
their byte offsets (:func:`vbq.storage.iter_lines`), so a 1 GB output needs no more memory
than a chunk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vbq.requests import ROUTE_LABEL, TENANT_LABEL
from vbq.storage import iter_lines, split_gs, storage_client
from vbq.usage import Tokens

__all__ = ["OutputRow", "Tally", "iter_output_rows", "output_blobs", "row_error"]


@dataclass(frozen=True, slots=True)
class OutputRow:
    """One output row, reduced to what routing and accounting need."""

    file_index: int
    offset: int
    length: int
    request_id: str | None
    tenant: str | None
    ok: bool
    tokens: Tokens
    status: str


@dataclass
class Tally:
    """Counts and token sums of some rows (a job, or one tenant's share of a pack)."""

    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    tokens: Tokens = field(default_factory=Tokens)

    def add(self, ok: bool, tokens: Tokens) -> None:
        self.requests += 1
        if ok:
            self.succeeded += 1
        else:
            self.failed += 1
        if tokens:
            self.tokens = self.tokens + tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "usage": self.tokens.to_dict(),
        }


def output_blobs(job: dict[str, Any], *, client: Any = None) -> list[Any]:
    """The job's ``predictions*.jsonl`` blobs, sorted by name ([] without a GCS output)."""
    directory = str((job.get("outputInfo") or {}).get("gcsOutputDirectory") or "").rstrip("/")
    if not directory.startswith("gs://"):
        return []
    bucket, prefix = split_gs(directory)
    client = client or storage_client()
    blobs = client.list_blobs(bucket, prefix=f"{prefix}/" if prefix else "")
    found = [
        b
        for b in blobs
        if b.name.rsplit("/", 1)[-1].startswith("predictions") and b.name.endswith(".jsonl")
    ]
    return sorted(found, key=lambda b: b.name)


def iter_output_rows(blobs: list[Any]) -> Iterator[OutputRow]:
    """Every row of ``blobs`` (blank lines skipped; a line that is not JSON is a failed row
    without a routing key)."""
    for index, blob in enumerate(blobs):
        for offset, line in iter_lines(blob):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                yield OutputRow(index, offset, len(line), None, None, False, Tokens(), "bad row")
                continue
            status = row.get("status")
            status_text = status if isinstance(status, str) else json.dumps(status)
            response = row.get("response")
            ok = not status and isinstance(response, dict)
            tokens = (
                Tokens.from_usage_metadata(response.get("usageMetadata"))
                if isinstance(response, dict)
                else Tokens()
            )
            request = row.get("request")
            labels = request.get("labels") if isinstance(request, dict) else None
            labels = labels if isinstance(labels, dict) else {}
            rid = labels.get(ROUTE_LABEL)
            tenant = labels.get(TENANT_LABEL)
            yield OutputRow(
                file_index=index,
                offset=offset,
                length=len(line),
                request_id=rid if isinstance(rid, str) else None,
                tenant=tenant if isinstance(tenant, str) else None,
                ok=ok,
                tokens=tokens,
                status="" if ok else (status_text or "no response"),
            )


def row_error(status: str) -> dict[str, Any]:
    """Google's row ``status`` as ``{code, message, status, source: "row"}``.

    Google writes e.g. ``Bad Request: {"error": {"code": 400, "message": ..., "status":
    "INVALID_ARGUMENT"}}``; the JSON part, when present, gives code, message and status.
    """
    detail: dict[str, Any] = {}
    start = status.find("{")
    if start >= 0:
        try:
            parsed = json.loads(status[start:])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            inner = parsed.get("error", parsed)
            detail = inner if isinstance(inner, dict) else {}
    return {
        "code": detail.get("code"),
        "message": str(detail.get("message") or status),
        "status": detail.get("status"),
        "source": "row",
    }
