"""The results task: read finished jobs' outputs, then publish their owed finished events.

For every id due in ``vbq:results:due`` (:mod:`vbq.store.results`):

- a submission whose finished event is owed (a pack of requests, or a Gemini job whose token
  usage is counted): its outputs are streamed; a pack's requests are answered
  (:mod:`vbq.workers.unpack`); then one Lua call stores the results, adds them to the
  per-tenant and per-model totals and publishes the event with ``results``;
- a split submission: its parts are checked (:mod:`vbq.workers.split_parent`).

Packs whose submission finished without a Vertex job (REJECTED, or CANCELLED before it was
sent) owe no event; :meth:`Finisher.run_once` also answers their requests with that error.
Outputs that cannot be read are retried with backoff for ``VBQ_RESULTS_TIMEOUT_S``; after that
the event goes out with ``results.error`` and the pack's requests fail with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis as redis_lib

from vbq.errors import NotFoundError
from vbq.events import JobEvent
from vbq.logs import get_logger
from vbq.requests import PackBook, PackState, RequestStore, model_id
from vbq.settings import Settings
from vbq.store import JobStore, SubmissionRecord
from vbq.store.results import ResultsBook
from vbq.usage import price_table
from vbq.usage.ledger import increments
from vbq.workers.lease import Lease
from vbq.workers.outputs_scan import Tally, iter_output_rows, output_blobs
from vbq.workers.unpack import Unpacker, UnpackResult

__all__ = ["Finisher", "FinisherReport", "pack_id_of"]

_log = get_logger("vbq.workers.results")
_LEASE_S = 30.0


@dataclass
class FinisherReport:
    """What one run did."""

    published: list[str] = field(default_factory=list)
    waiting: int = 0
    failed_reads: int = 0
    settled_packs: list[str] = field(default_factory=list)


def pack_id_of(rec: SubmissionRecord) -> str | None:
    """The pack id of a pack's submission (from its metadata), else None."""
    info = rec.metadata.get("vbq_pack") if rec.metadata else None
    value = info.get("pack_id") if isinstance(info, dict) else None
    return value if isinstance(value, str) else None


class Finisher:
    """Runs the results task (see the module docstring).

    Args:
        redis: the vbq Redis.
        settings: request events, price table, results timeout.
        store: the job store.
        client: a google-cloud-storage client (default: the thread's).
        split_check: called with a split submission's record (set by the splitter).
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        settings: Settings,
        store: JobStore,
        client: Any = None,
        split_check: Any = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.store = store
        self.results = ResultsBook(redis)
        self.requests = RequestStore(redis, settings=settings)
        self.packs = PackBook(redis, settings=settings)
        self.client = client
        self.split_check = split_check

    def run_once(self, *, limit: int = 50) -> FinisherReport:
        """Handle every due id (up to ``limit``) and settle packs that finished unsent."""
        report = FinisherReport()
        now = _redis_now(self.redis)
        for sid in self.results.due(now, limit=limit):
            self.process(sid, now, report)
        for pid in self.packs.flushed():
            self._settle_unsent(pid, report)
        return report

    def process(self, submission_id: str, now_s: float, report: FinisherReport) -> None:
        """One due id; never raises for a job-level problem (logs and reschedules)."""
        lease = Lease(self.redis, f"vbq:lock:results:{submission_id}", _LEASE_S)
        if not lease.acquire():
            return
        try:
            try:
                rec = self.store.get(submission_id)
            except NotFoundError:
                self.results.forget(submission_id)
                return
            owed = self.results.owed(submission_id)
            if owed is None:
                if self.split_check is not None and rec.metadata.get("vbq_split_parts"):
                    self.split_check(rec)
                else:
                    self.results.forget(submission_id)
                return
            event = JobEvent.from_json(owed)
            if rec.state.value != event.state:
                if rec.finished:  # it finished otherwise (another event was published)
                    self.results.drop_owed(submission_id, owed)
                    self.results.forget(submission_id)
                else:  # the poller wrote the event but not (yet) the transition
                    self.results.later(submission_id, now_s + 5.0)
                    report.waiting += 1
                return
            self._publish(rec, owed=owed, event=event, lease=lease, now_s=now_s, report=report)
        finally:
            lease.release()

    def _publish(
        self,
        rec: SubmissionRecord,
        *,
        owed: str,
        event: JobEvent,
        lease: Lease,
        now_s: float,
        report: FinisherReport,
    ) -> None:
        pack_id = pack_id_of(rec)
        try:
            results = self._read(rec, pack_id, lease)
        except Exception as exc:
            age = now_s - (rec.finished_at or now_s)
            report.failed_reads += 1
            if age < self.settings.results_timeout_s:
                delay = min(60.0, 2.0 + age / 10)
                _log.warning("results read failed; retrying", submission_id=rec.id, error=repr(exc))
                self.results.later(rec.id, now_s + delay)
                return
            _log.error("results unreadable; publishing without", submission_id=rec.id)
            results = {"error": f"outputs unreadable for {age:.0f}s: {exc!r}"[:500]}
            if pack_id is not None:
                results.update(self._give_up(rec, pack_id, str(exc)))
        ledger = increments(results, tenant=rec.tenant, model=rec.model or "")
        published = self.results.finish(
            rec.id,
            owed_json=owed,
            results=results,
            event=event.model_copy(update={"results": results}),
            increments=ledger if "usage" in results else (),
        )
        if pack_id is not None:
            self.packs.done(pack_id, results.get("files") or [])
        if published:
            report.published.append(rec.id)
            _log.info("results published", submission_id=rec.id, requests=results.get("requests"))

    def _read(self, rec: SubmissionRecord, pack_id: str | None, lease: Lease) -> dict[str, Any]:
        if pack_id is None:
            tally = Tally()
            for row in iter_output_rows(output_blobs(rec.job or {}, client=self.client)):
                tally.add(row.ok, row.tokens)
            return self._priced(tally.to_dict(), rec.model or "")
        pack = self.requests.get_pack(pack_id)
        if pack is None:
            return {"error": f"pack {pack_id} is gone"}
        unpacked = Unpacker(
            book=self.packs, settings=self.settings, renew=lease.renew, client=self.client
        ).unpack(pack, job=rec.job, state=rec.state.value, submission_id=rec.id)
        return self._pack_results(unpacked, pack_id, rec.model or "")

    def _pack_results(self, result: UnpackResult, pack_id: str, model: str) -> dict[str, Any]:
        out = self._priced(result.total.to_dict(), model)
        out["pack_id"] = pack_id
        out["files"] = result.files
        out["rows_read"] = result.rows_read
        out["without_row"] = result.without_row
        out["by_tenant"] = {
            t: self._priced(v.to_dict(), model) for t, v in result.by_tenant.items()
        }
        return out

    def _priced(self, part: dict[str, Any], model: str) -> dict[str, Any]:
        out = {**part, "model": model_id(model) if model else None}
        table = price_table(self.settings.price_table)
        if table is not None:
            from vbq.usage import Tokens

            cost = table.cost(model, Tokens.from_dict(part.get("usage")))
            if cost is not None:
                out["cost"] = round(cost, 6)
                out["currency"] = table.currency
        return out

    def _give_up(self, rec: SubmissionRecord, pack_id: str, reason: str) -> dict[str, Any]:
        pack = self.requests.get_pack(pack_id)
        if pack is None:
            return {}
        job = {"error": {"message": f"outputs could not be read: {reason}"[:300]}}
        unpacker = Unpacker(book=self.packs, settings=self.settings, client=self.client)
        result = UnpackResult()
        unpacker.fail_rest(
            pack, set(), result, job=job, state=rec.state.value, submission_id=rec.id
        )
        return {"requests": pack.rows, "failed": result.total.failed}

    def _settle_unsent(self, pack_id: str, report: FinisherReport) -> None:
        """Close a flushed pack whose submission finished and owes no event: answered
        already (close it), never sent (REJECTED, CANCELLED before create: fail its requests
        with that reason), or finished by a poller without the results hook (unpack it)."""
        pack = self.requests.get_pack(pack_id)
        if pack is None or pack.state is not PackState.FLUSHED or not pack.submission_id:
            return
        try:
            rec = self.store.get(pack.submission_id)
        except NotFoundError:
            return
        if not rec.finished or self.results.owed(rec.id) is not None:
            return
        lease = Lease(self.redis, f"vbq:lock:results:{rec.id}", _LEASE_S)
        if not lease.acquire():
            return
        try:
            files: list[str] = []
            if rec.results is not None:
                files = list(rec.results.get("files") or [])
            elif not rec.job_name:
                job = rec.job or {"error": {"message": rec.last_error or rec.state.value}}
                Unpacker(book=self.packs, settings=self.settings).fail_rest(
                    pack,
                    set(),
                    UnpackResult(),
                    job=job,
                    state=rec.state.value,
                    submission_id=rec.id,
                )
            else:
                unpacked = Unpacker(
                    book=self.packs, settings=self.settings, renew=lease.renew, client=self.client
                ).unpack(pack, job=rec.job, state=rec.state.value, submission_id=rec.id)
                files = unpacked.files
            self.packs.done(pack_id, files)
            report.settled_packs.append(pack_id)
        finally:
            lease.release()


def _redis_now(redis: redis_lib.Redis) -> float:
    seconds, micros = redis.time()
    return float(seconds) + float(micros) / 1e6
