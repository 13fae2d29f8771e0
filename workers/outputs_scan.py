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
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from vbq.requests import ROUTE_LABEL, TENANT_LABEL
from vbq.storage import iter_lines, split_gs, storage_client
from vbq.usage import Tokens

__all__ = ["OutputRow", "Tally", "iter_output_rows", "output_blobs", "row_error"]


class OutputRow(NamedTuple):
    """One output row, reduced to what routing and accounting need (a named tuple: one is
    made per row)."""

    file_index: int
    offset: int
    length: int
    request_id: str | None
    tenant: str | None
    ok: bool
    tokens: Tokens
    status: str


class Tally:
    """Counts and token sums of some rows (a job, or one tenant's share of a pack); plain
    integers, since it is added to once per row."""

    __slots__ = (
        "cached",
        "candidates",
        "failed",
        "prompt",
        "requests",
        "succeeded",
        "thoughts",
        "total",
    )

    def __init__(self) -> None:
        self.requests = self.succeeded = self.failed = 0
        self.prompt = self.candidates = self.thoughts = self.cached = self.total = 0

    def add(self, ok: bool, tokens: Tokens) -> None:
        self.requests += 1
        if ok:
            self.succeeded += 1
        else:
            self.failed += 1
        self.prompt += tokens.prompt
        self.candidates += tokens.candidates
        self.thoughts += tokens.thoughts
        self.cached += tokens.cached
        self.total += tokens.total

    @property
    def tokens(self) -> Tokens:
        return Tokens(self.prompt, self.candidates, self.thoughts, self.cached, self.total)

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


_OK_START = b'{"status":"",'
_ROUTE = b'"' + ROUTE_LABEL.encode() + b'":"'
_TENANT = b'"' + TENANT_LABEL.encode() + b'":"'
_USAGE = b'"usageMetadata":'
_RESPONSE = b'"response":{'
_REQUEST = b'"request":{'
_HEX = frozenset(b"0123456789abcdef")
# The five counts of usageMetadata (nested details carry other key names).
_COUNTS = re.compile(
    rb'"(promptTokenCount|candidatesTokenCount|thoughtsTokenCount|cachedContentTokenCount'
    rb'|totalTokenCount)":(\d+)'
)


def _fast_row(index: int, offset: int, line: bytes) -> OutputRow | None:
    """A successful row in Google's layout without parsing all of it.

    Google writes ``{"status":"","processed_time":...,"request":{...},"response":{...}}``: the
    routing labels are looked for only between the start of ``request`` and the first
    ``"response":{`` after it (the prompt, small), ``usageMetadata`` from the end (it follows
    the candidates). A key quoted that way cannot occur inside a JSON string (its quotes would
    be escaped); anything unexpected (no such region, a label twice) returns None and the row
    is parsed whole.
    """
    if not line.startswith(_OK_START):
        return None
    r0 = line.find(_REQUEST)
    resp = line.find(_RESPONSE, r0) if r0 >= 0 else -1
    if resp < 0:
        return None
    at = line.find(_ROUTE, r0, resp)
    if at < 0 or line.find(_ROUTE, at + 1, resp) >= 0:
        return None
    at += len(_ROUTE)
    rid = line[at : at + 32]
    if line[at + 32 : at + 33] != b'"' or not _HEX.issuperset(rid):
        return None
    tenant = None
    t_at = line.find(_TENANT, r0, resp)
    if t_at >= 0:
        t_at += len(_TENANT)
        tenant = line[t_at : line.find(b'"', t_at)].decode()
    tokens = Tokens()
    u_at = line.rfind(_USAGE, resp)
    if u_at >= 0:
        counts = {k.decode(): int(v) for k, v in _COUNTS.findall(line, u_at)}
        tokens = Tokens.from_usage_metadata(counts)
    return OutputRow(index, offset, len(line), rid.decode(), tenant, True, tokens, "")


def iter_output_rows(blobs: list[Any]) -> Iterator[OutputRow]:
    """Every row of ``blobs`` (blank lines skipped; a line that is not JSON is a failed row
    without a routing key)."""
    for index, blob in enumerate(blobs):
        for offset, line in iter_lines(blob):
            if not line.strip():
                continue
            fast = _fast_row(index, offset, line)
            if fast is not None:
                yield fast
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
