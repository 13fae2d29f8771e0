"""The unpacker: answer every request of a finished pack from its job's output rows.

Rows are streamed (:mod:`vbq.workers.outputs_scan`) and answered in batches of Lua calls
(:meth:`vbq.requests.PackBook.answer`: compare-and-set on PENDING and the pack id, so no
request is ever answered twice, whatever reruns a crash causes). A request answered keeps
only its state, file index, byte offset and length, token counts and error; its handle reads
the response by range. Requests without a row (a failed, expired or cancelled job, or rows
Google did not write) fail with the job's error. The totals (per pack and per tenant) are
computed from the whole stream on every run, so a rerun reports the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from vbq.events import JobEvent
from vbq.requests import Answer, AnswerCounts, PackBook, PackRecord, RequestState
from vbq.requests.keys import request_key
from vbq.settings import Settings
from vbq.workers.outputs_scan import Tally, iter_output_rows, output_blobs, row_error

__all__ = ["UnpackResult", "Unpacker", "job_error"]

_BATCH = 5000


@dataclass
class UnpackResult:
    """What unpacking one pack found."""

    total: Tally = field(default_factory=Tally)
    by_tenant: dict[str, Tally] = field(default_factory=dict)
    counts: AnswerCounts = field(default_factory=AnswerCounts)
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_unrouted: int = 0
    without_row: int = 0


def job_error(job: dict[str, Any] | None, state: str) -> dict[str, Any]:
    """The error a request without an output row gets: its job's, or why it has none."""
    error = (job or {}).get("error")
    if isinstance(error, dict) and error.get("message"):
        return {
            "code": error.get("code"),
            "message": str(error["message"]),
            "status": error.get("status"),
            "source": "job",
        }
    return {
        "code": None,
        "message": f"the packed job ended {state} without an output row for this request",
        "status": None,
        "source": "job",
    }


class Unpacker:
    """Answers the requests of one pack.

    Args:
        book: the pack operations.
        settings: whether request events are published.
        renew: called between batches (keeps the caller's lease alive).
        client: a google-cloud-storage client (default: the thread's).
    """

    def __init__(
        self,
        *,
        book: PackBook,
        settings: Settings,
        renew: Callable[[], object] = lambda: None,
        client: Any = None,
    ) -> None:
        self.book = book
        self.settings = settings
        self.renew = renew
        self.client = client
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vbq-unpack")
        self._running: Future[AnswerCounts] | None = None
        self._result = UnpackResult()

    def unpack(
        self, pack: PackRecord, *, job: dict[str, Any] | None, state: str, submission_id: str
    ) -> UnpackResult:
        """Answer ``pack``'s requests from the rows of ``job`` (the finished Vertex resource).

        Raises:
            google.api_core.exceptions.GoogleAPIError, redis.RedisError: rerun later.
        """
        result = UnpackResult()
        blobs = output_blobs(job or {}, client=self.client)
        result.files = [f"gs://{b.bucket.name}/{b.name}" for b in blobs]
        self.book.set_files(pack.id, result.files)
        seen: set[str] = set()
        batch: list[Answer] = []
        tenants: dict[str, str] = {}
        for row in iter_output_rows(blobs):
            result.rows_read += 1
            rid = row.request_id
            if rid is None or rid in seen:
                result.rows_unrouted += 1
                continue
            seen.add(rid)
            error = "" if row.ok else json.dumps(row_error(row.status), separators=(",", ":"))
            state_of = RequestState.SUCCEEDED if row.ok else RequestState.FAILED
            batch.append(
                Answer(rid, state_of, row.file_index, row.offset, row.length, row.tokens, error)
            )
            result.total.add(row.ok, row.tokens)
            tenant = row.tenant or pack.tenant or ""
            tenants[rid] = tenant
            result.by_tenant.setdefault(tenant, Tally()).add(row.ok, row.tokens)
            if len(batch) >= _BATCH:
                self._answer(pack, batch, result, submission_id, job, tenant_of=tenants)
                batch, tenants = [], {}
        if batch:
            self._answer(pack, batch, result, submission_id, job, tenant_of=tenants)
        self._settle()
        if result.counts.matched < pack.rows:
            self.fail_rest(pack, seen, result, job=job, state=state, submission_id=submission_id)
            self._settle()
        return result

    def fail_rest(
        self,
        pack: PackRecord,
        seen: set[str],
        result: UnpackResult,
        *,
        job: dict[str, Any] | None,
        state: str,
        submission_id: str,
    ) -> None:
        error = json.dumps(job_error(job, state), separators=(",", ":"))
        for page in self.book.iter_ids(pack.id):
            missing = [rid for rid in page if rid not in seen]
            if not missing:
                continue
            answers = [Answer(rid, RequestState.FAILED, error=error) for rid in missing]
            tenants = self._tenants(missing) if not pack.tenant else {}
            self._answer(pack, answers, result, submission_id, job, tenant_of=tenants)
            self._settle()
            result.without_row += len(missing)
            for answer in answers:
                tenant = tenants.get(answer.request_id) or pack.tenant or ""
                result.total.add(False, answer.tokens)
                result.by_tenant.setdefault(tenant, Tally()).add(False, answer.tokens)

    def _tenants(self, request_ids: list[str]) -> dict[str, str]:
        pipe = self.book.redis.pipeline(transaction=False)
        for rid in request_ids:
            pipe.hget(request_key(rid), "tenant")
        out: dict[str, str] = {}
        for rid, value in zip(request_ids, pipe.execute(), strict=True):
            if value is not None:
                out[rid] = value.decode() if isinstance(value, bytes) else str(value)
        return out

    def _answer(
        self,
        pack: PackRecord,
        answers: list[Answer],
        result: UnpackResult,
        submission_id: str,
        job: dict[str, Any] | None,
        *,
        tenant_of: dict[str, str] | None,
    ) -> None:
        events = None
        if self.settings.request_events:
            job_name = str((job or {}).get("name") or "") or None
            events = [
                _request_event(
                    a,
                    pack=pack,
                    submission_id=submission_id,
                    job_name=job_name,
                    files=result.files,
                    tenant_of=tenant_of,
                )
                for a in answers
            ]
        # Redis answers one batch while this thread parses the next one (one batch in flight).
        self._settle()
        self._running = self._pool.submit(self.book.answer, pack.id, answers, events=events)
        self._result = result
        self.renew()

    def _settle(self) -> None:
        """Wait for the batch in flight and add its counts."""
        if self._running is not None:
            counts = self._running.result()
            self._running = None
            self._result.counts.new += counts.new
            self._result.counts.before += counts.before
            self._result.counts.foreign += counts.foreign


def _request_event(
    answer: Answer,
    *,
    pack: PackRecord,
    submission_id: str,
    job_name: str | None,
    files: list[str],
    tenant_of: dict[str, str] | None,
) -> str:
    ok = answer.state is RequestState.SUCCEEDED
    output = None
    if answer.file_index >= 0:
        output = {"uri": files[answer.file_index], "offset": answer.offset, "length": answer.length}
    event = JobEvent.create(
        type="request.succeeded" if ok else "request.failed",
        submission_id=answer.request_id,
        state=answer.state.value,
        previous_state=RequestState.PENDING.value,
        job=None,
        tenant=(tenant_of or {}).get(answer.request_id) or pack.tenant or "default",
    )
    results = {
        "request_id": answer.request_id,
        "pack_id": pack.id,
        "submission_id": submission_id,
        "job_name": job_name,
        "output": output,
        "usage": answer.tokens.to_dict(),
        "error": json.loads(answer.error) if answer.error else None,
    }
    return event.model_copy(update={"results": results}).to_json()
