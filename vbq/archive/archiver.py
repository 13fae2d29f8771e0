"""The retention task's work: archive finished submissions past the window, then expire them.

One holder at a time (the fenced lease ``vbq:retention:lock``). Each batch:

1. **Pick** the oldest ids of ``vbq:finished`` with ``finished_at <= now - retention_s`` (at
   most ``VBQ_RETENTION_BATCH``) and save them as the *pending batch* ``vbq:archive:pending``
   (``{"batch": id, "ids": [...]}``, the batch id a hash of the ids). A pending batch left by
   a crash is resumed first, with the same ids and so the same object names.
2. **Write** their records and timelines to Cloud Storage (:class:`ArchiveWriter`), one object
   per (finish date, tenant), replacing what an earlier attempt of the batch wrote.
3. **Expire** them in one Lua call (:meth:`vbq.store.expiry.Expirer.expire`) that also writes
   the archive index and deletes the pending batch, only while our lease holds.

A crash after 2 and before 3 leaves the pending batch: the next round writes the same objects
again and expires, so every submission is in the archive exactly once. Without an archive
prefix step 2 is skipped (the index then says "expired, not archived").
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis as redis_lib

from vbq.archive.layout import DAY_S, ArchivedAt, IndexLayout
from vbq.archive.rows import archive_row, finished_date
from vbq.archive.writer import ArchiveWriter
from vbq.leases import HeldLease
from vbq.logs import get_logger
from vbq.settings import Settings
from vbq.states import SubmissionState
from vbq.store.expiry import DueSubmission, Expirer, IndexEntry
from vbq.store.keys import PREFIX

__all__ = ["LEASE_KEY", "PENDING_KEY", "Archiver", "RetentionReport"]

LEASE_KEY = f"{PREFIX}retention:lock"
FENCE_KEY = f"{PREFIX}retention:fence"
PENDING_KEY = f"{PREFIX}archive:pending"
OWED_RETRY_S = 600.0
"""A due submission whose finished event is still owed is looked at again this much later."""

_log = get_logger(__name__)


@dataclass
class RetentionReport:
    """What one :meth:`Archiver.run_once` did.

    Attributes:
        batches: batches archived and expired.
        archived: rows written to the archive.
        statuses: per-id outcomes of the expire calls (``expired``, ``gone``, ``owed``,
            ``unfinished``) and their counts.
        busy: another process holds the retention lease (nothing done).
        lease_lost: the lease ran out during the round (the pending batch is retried).
    """

    batches: int = 0
    archived: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    busy: bool = False
    lease_lost: bool = False

    @property
    def expired(self) -> int:
        """Submissions that left Redis."""
        return self.statuses.get("expired", 0)


class Archiver:
    """Archives and expires finished submissions past ``retention_s``.

    Args:
        redis: the store's Redis client.
        settings: ``retention_s``, ``archive_prefix``, ``archive_index_ttl_s``,
            ``retention_batch``.
        writer: where rows go (default: an :class:`ArchiveWriter` on ``archive_prefix``, or
            none when it is empty).
        bucket_s: index bucket width (a day; the soak benchmark scales it down).
        clock: epoch seconds (tests and the soak may shift it).
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        settings: Settings,
        writer: ArchiveWriter | None = None,
        bucket_s: float = DAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.writer = writer or (
            ArchiveWriter(settings.archive_prefix) if settings.archive_prefix else None
        )
        self.layout = IndexLayout(
            retention_s=settings.retention_s,
            index_ttl_s=settings.archive_index_ttl_s,
            bucket_s=bucket_s,
        )
        self.clock = clock
        self.expirer = Expirer(redis)
        self.lease = HeldLease(
            redis=redis,
            key=LEASE_KEY,
            fence_key=FENCE_KEY,
            owner=f"{socket.gethostname()}:{os.getpid()}",
            ttl_s=60.0,
        )

    def run_once(self, *, max_batches: int = 20, budget_s: float = 20.0) -> RetentionReport:
        """Archive and expire due submissions, a batch at a time, until none is due, or
        ``max_batches`` batches, or ``budget_s`` seconds.

        Raises:
            redis.RedisError: Redis could not be reached.
            google.api_core.exceptions.GoogleAPIError: an archive write failed (the batch stays
                pending and is retried next round).
        """
        report = RetentionReport()
        if self.settings.retention_s <= 0:
            return report
        held, _ = self.lease.acquire_or_renew()
        if not held:
            report.busy = True
            return report
        started = time.monotonic()
        try:
            while report.batches < max_batches and time.monotonic() - started < budget_s:
                if not self._one_batch(report):
                    break
                held, _ = self.lease.acquire_or_renew()
                if not held:
                    report.lease_lost = True
                    break
        finally:
            if not report.lease_lost:
                self.lease.release()
        if report.batches:
            _log.info(
                "retention.run",
                batches=report.batches,
                archived=report.archived,
                statuses=report.statuses,
                archive=bool(self.writer),
            )
        return report

    def _pending_or_pick(self) -> tuple[str, list[str]] | None:
        raw = self.redis.get(PENDING_KEY)
        if raw is not None:
            pending = json.loads(raw)
            return str(pending["batch"]), [str(i) for i in pending["ids"]]
        cutoff = self.clock() - self.settings.retention_s
        ids = self.expirer.due(cutoff, limit=self.settings.retention_batch)
        if not ids:
            return None
        batch = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
        payload = json.dumps({"batch": batch, "ids": ids})
        if not self.expirer.save_pending(
            payload, lease_key=LEASE_KEY, lease_value=self.lease.value, pending_key=PENDING_KEY
        ):
            return None
        return batch, ids

    def _one_batch(self, report: RetentionReport) -> bool:
        picked = self._pending_or_pick()
        if picked is None:
            return False
        batch, ids = picked
        due = self.expirer.load(ids)
        live = [d for d in due if d.fields and not d.owed and _finished(d)]
        where = self._archive(batch, live)
        archived = {d.id for d in live}
        # Only what this batch archived may expire: an id owed or unfinished when loaded (it
        # may have finished, or its results settled, since) is kept and tried again later.
        entries = [
            self._index_entry(d, where)
            if d.id in archived
            else IndexEntry(id=d.id, key=self.layout.key(0, d.id), value=RETRY_MARK, expire_at_s=1)
            for d in due
            if d.fields
        ]
        # Ids whose record is gone (deleted meanwhile) only leave vbq:finished.
        entries += [
            IndexEntry(id=d.id, key=self.layout.key(0, d.id), value="", expire_at_s=1)
            for d in due
            if not d.fields
        ]
        statuses = self.expirer.expire(
            entries,
            lease_key=LEASE_KEY,
            lease_value=self.lease.value,
            pending_key=PENDING_KEY,
            owed_retry_score=self.clock() - self.settings.retention_s + OWED_RETRY_S,
        )
        if statuses is None:
            report.lease_lost = True
            self.lease.forget()
            _log.warning("retention.lease_lost", batch=batch)
            return False
        report.batches += 1
        report.archived += len(where)
        for status in statuses.values():
            report.statuses[status] = report.statuses.get(status, 0) + 1
        return True

    def _archive(self, batch: str, live: list[DueSubmission]) -> dict[str, ArchivedAt]:
        if self.writer is None or not live:
            return {}
        archived_at = self.clock()
        rows: list[tuple[str, dict[str, Any]]] = [
            (finished_date(d.fields), archive_row(d.fields, d.timeline, archived_at_s=archived_at))
            for d in live
        ]
        return self.writer.write_batch(batch, rows)

    def _index_entry(self, due: DueSubmission, where: dict[str, ArchivedAt]) -> IndexEntry:
        finished_at = float(due.fields.get("finished_at") or due.fields.get("updated_at") or 0)
        bucket = self.layout.bucket_of(finished_at)
        at = where.get(due.id) or ArchivedAt(
            date=finished_date(due.fields), tenant=due.fields.get("tenant") or "default"
        )
        return IndexEntry(
            id=due.id,
            key=self.layout.key(bucket, due.id),
            value=at.encode(),
            expire_at_s=self.layout.expire_at_s(bucket),
        )


RETRY_MARK = "~retry"
"""Index value that tells ``expire.lua`` to keep an id this batch did not archive."""


def _finished(due: DueSubmission) -> bool:
    try:
        return SubmissionState(due.fields.get("state", "")).finished
    except ValueError:
        return False
