"""``RequestHandle``: one request added with ``Client.add_request``, followed to its answer.

``state`` re-reads the record (one Redis round trip, never a Google call); ``response`` reads
the request's own output row from Cloud Storage by byte range (one ranged GET, cached), so no
response is ever held in Redis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vbq.errors import OutputsError
from vbq.requests import PackRecord, PackState, RequestRecord, RequestState

__all__ = ["RequestHandle", "RequestView"]

_PACKED = (PackState.FLUSHED, PackState.DONE)


@dataclass(frozen=True)
class RequestView:
    """A request record with its pack and its pack's submission, as read together."""

    record: RequestRecord
    pack: PackRecord | None
    job_name: str | None


class RequestHandle:
    """A handle on one request (build it with ``Client.add_request`` or ``get_request``).

    Args:
        view: the request as last read.
        fetch: reads it again (raises ``NotFoundError``).
        read_row: reads ``length`` bytes at ``offset`` of an output file URI.
        created: False when an idempotency key matched an existing request.
    """

    def __init__(
        self,
        *,
        view: RequestView,
        fetch: Callable[[str], RequestView],
        read_row: Callable[[str, int, int], bytes],
        created: bool = True,
    ) -> None:
        self._view = view
        self._fetch = fetch
        self._read_row = read_row
        self._row: dict[str, Any] | None = None
        self.created = created

    @property
    def request_id(self) -> str:
        """The request id (32 hex characters)."""
        return self._view.record.id

    @property
    def record(self) -> RequestRecord:
        """The stored record as last read."""
        return self._view.record

    @property
    def tenant(self) -> str:
        """Owner of the request."""
        return self._view.record.tenant

    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's metadata."""
        return dict(self._view.record.metadata)

    @property
    def state(self) -> RequestState:
        """The current state, read again (PENDING, PACKED, SUCCEEDED or FAILED)."""
        self.refresh()
        return self.cached_state

    @property
    def cached_state(self) -> RequestState:
        """The state as last read (PACKED once its pack is a submission)."""
        rec = self._view.record
        pack = self._view.pack
        if rec.state is RequestState.PENDING and pack is not None and pack.state in _PACKED:
            return RequestState.PACKED
        return rec.state

    @property
    def pack_id(self) -> str:
        """The pack the request was assigned to when it was added."""
        return self._view.record.pack_id

    @property
    def submission_id(self) -> str | None:
        """The submission of its pack, once flushed."""
        return self._view.pack.submission_id if self._view.pack else None

    @property
    def job_name(self) -> str | None:
        """The Vertex job that ran (or runs) the request, once created."""
        return self._view.job_name

    @property
    def usage(self) -> dict[str, int]:
        """Token counts of the response (``prompt``, ``candidates``, ``thoughts``, ``cached``,
        ``total``; zeros until answered)."""
        return self._view.record.tokens.to_dict()

    @property
    def error(self) -> dict[str, Any] | None:
        """Why the request failed: ``{code, message, status, source}`` (``source`` is ``row``
        for Google's row ``status``, ``job`` when its job produced no row); None otherwise."""
        text = self._view.record.error
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return {"code": None, "message": text, "status": None, "source": "row"}
        return value if isinstance(value, dict) else {"message": text}

    @property
    def output_uri(self) -> str | None:
        """The output file holding the request's row, once answered."""
        rec, pack = self._view.record, self._view.pack
        if rec.file_index is None or pack is None or rec.file_index >= len(pack.files):
            return None
        return pack.files[rec.file_index]

    @property
    def row(self) -> dict[str, Any] | None:
        """The request's whole output row (``status``, ``processed_time``, ``request``,
        ``response``), read by range from Cloud Storage once and cached; None before an answer.

        Raises:
            OutputsError: the row cannot be read (storage refused, or it is not JSON).
        """
        if self._row is not None:
            return self._row
        rec, uri = self._view.record, self.output_uri
        if uri is None or rec.offset is None or not rec.length:
            return None
        try:
            data = self._read_row(uri, rec.offset, rec.length)
            row = json.loads(data)
        except ValueError as exc:
            raise OutputsError(f"{uri} at {rec.offset}: not a JSON row: {exc}") from exc
        except Exception as exc:
            raise OutputsError(f"cannot read {uri} at {rec.offset}: {exc}") from exc
        self._row = row if isinstance(row, dict) else {"value": row}
        return self._row

    @property
    def response(self) -> dict[str, Any] | None:
        """The ``GenerateContentResponse`` (``candidates``, ``usageMetadata``, ...) of a
        SUCCEEDED request; None otherwise.

        Raises:
            OutputsError: as :attr:`row`.
        """
        if self._view.record.state is not RequestState.SUCCEEDED:
            return None
        row = self.row
        value = row.get("response") if row else None
        return value if isinstance(value, dict) else None

    @property
    def text(self) -> str:
        """The first candidate's text parts, joined ("" when there is none)."""
        candidates = (self.response or {}).get("candidates") or []
        if not candidates or not isinstance(candidates[0], dict):
            return ""
        parts = (candidates[0].get("content") or {}).get("parts") or []
        return "".join(str(p["text"]) for p in parts if isinstance(p, dict) and "text" in p)

    def refresh(self) -> RequestHandle:
        """Read the request again; returns ``self``.

        Raises:
            NotFoundError: the request is gone (expired after VBQ_REQUEST_TTL_S).
        """
        self._view = self._fetch(self.request_id)
        self._row = None
        return self

    def done(self) -> bool:
        """True once the request has its answer."""
        return self.state.finished

    def wait(self, timeout_s: float | None = None, poll_interval_s: float = 1.0) -> RequestState:
        """Block until the request is answered; returns SUCCEEDED or FAILED.

        Raises:
            TimeoutError: (Python's builtin) ``timeout_s`` passed first.
            NotFoundError: the request is gone.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            state = self.state
            if state.finished:
                return state
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"request {self.request_id} still {state} after {timeout_s}s"
                    )
                time.sleep(min(poll_interval_s, remaining))
            else:
                time.sleep(poll_interval_s)

    def to_dict(self, *, with_response: bool = False) -> dict[str, Any]:
        """JSON-ready view; ``with_response`` reads the response (one ranged GET)."""
        rec = self._view.record
        out: dict[str, Any] = {
            "request_id": rec.id,
            "state": self.cached_state.value,
            "tenant": rec.tenant,
            "model": rec.model,
            "idempotency_key": rec.idempotency_key,
            "metadata": dict(rec.metadata),
            "pack_id": rec.pack_id,
            "submission_id": self.submission_id,
            "job_name": self.job_name,
            "accepted_time": _iso(rec.created_at),
            "finished_time": _iso(rec.finished_at),
            "usage": self.usage,
            "error": self.error,
            "output": (
                {"uri": self.output_uri, "offset": rec.offset, "length": rec.length}
                if self.output_uri
                else None
            ),
        }
        if with_response:
            out["response"] = self.response
        return out

    def __repr__(self) -> str:
        return f"<RequestHandle {self.request_id} {self.cached_state.value}>"


def _iso(epoch_s: float | None) -> str | None:
    if not epoch_s:
        return None
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat().replace("+00:00", "Z")
