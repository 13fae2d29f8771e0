"""The packer: flush packs of requests into Cloud Storage and submit each as one submission.

A flush of pack ``P`` (``vbq.pack.flush``, sent when a pack fills, and ``vbq.pack.tick``, which
beat sends for packs whose oldest request waited ``VBQ_PACK_MAX_WAIT_S`` and for sealed packs
whose message was lost):

1. Seal ``P`` if it is still open (too old, or forced): from then on its set of requests is
   fixed (requests were assigned to it atomically when added).
2. Stream its lines from Redis to ``{VBQ_PACK_PREFIX}/inputs/{P}.jsonl`` by resumable upload, a
   page at a time (never the whole pack in memory). The object is finalized only when the
   upload completes, and a rerun writes the same bytes: skipped when it already has the size.
3. Create an ordinary submission with idempotency key ``pack:{P}`` (the same submission
   whatever the number of reruns), output under ``{VBQ_PACK_PREFIX}/outputs/{P}``: rate limits,
   fairness, no-duplicate creates and events all apply to it.
4. Mark ``P`` FLUSHED (its lines leave Redis). The create in step 3 queued the submission
   with the scheduler, whose dispatcher publishes its submit.

A crash anywhere repeats the step that did not finish; no request is lost (its line stays in
Redis until step 4) or put into two packs (the assignment never changes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis as redis_lib

from vbq.errors import StoreError
from vbq.logs import get_logger
from vbq.requests import PackBook, PackRecord, PackState, RequestStore
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.storage import split_gs, storage_client, writer
from vbq.store import JobStore, NewSubmission
from vbq.workers.lease import Lease

__all__ = ["PACK_TENANT", "Packer", "TickReport", "pack_spec"]

PACK_TENANT = "vbq-packs"
"""Tenant of packs shared by several tenants (``VBQ_PACK_SHARE_TENANTS``)."""

_log = get_logger("vbq.workers.packer")
_LEASE_S = 30.0


@dataclass
class TickReport:
    """What one pack tick did."""

    sealed_by_age: int = 0
    flushed: list[str] = field(default_factory=list)
    skipped: int = 0


def pack_spec(pack: PackRecord, settings: Settings) -> tuple[JobSpec, str, str]:
    """``(spec, input uri, output prefix)`` of the packed job of ``pack``."""
    prefix = settings.pack_prefix
    uri = f"{prefix}/inputs/{pack.id}.jsonl"
    out = f"{prefix}/outputs/{pack.id}"
    labels = {"vbq_pack": pack.id}
    if pack.tenant:
        labels["vbq_tenant"] = pack.tenant
    spec = JobSpec.from_sdk_kwargs(
        job_display_name=f"vbq-pack-{pack.id}",
        model_name=pack.model,
        gcs_source=uri,
        gcs_destination_prefix=out,
        instances_format="jsonl",
        predictions_format="jsonl",
        labels=labels,
        project=pack.project,
        location=pack.location,
    )
    return spec, uri, out


class Packer:
    """Flushes packs (see the module docstring).

    Args:
        redis: the vbq Redis.
        settings: pack prefix, limits and wait.
        store: the job store (the pack's submission).
        client: a google-cloud-storage client (default: :func:`vbq.storage.storage_client`).
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        settings: Settings,
        store: JobStore,
        client: Any = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.store = store
        self.requests = RequestStore(redis, settings=settings)
        self.book = PackBook(redis, settings=settings)
        self._client = client

    def tick(self) -> TickReport:
        """Seal packs past ``VBQ_PACK_MAX_WAIT_S`` and flush every sealed pack."""
        report = TickReport()
        now = _redis_now(self.redis)
        aged, sealed = self.book.due(now)
        for pid in aged:
            bound = now - self.settings.pack_max_wait_s
            if self.book.seal(pid, reason="age", created_before_s=bound) == PackState.SEALED:
                report.sealed_by_age += 1
        for pid in dict.fromkeys([*aged, *sealed]):
            outcome = self.flush(pid)
            if outcome == "flushed":
                report.flushed.append(pid)
            else:
                report.skipped += 1
        return report

    def flush(self, pack_id: str, *, force: bool = False) -> str:
        """Flush one pack; returns ``flushed``, ``open`` (not due yet), ``locked``, ``missing``
        or the state it already had (``FLUSHED``, ``DONE``).

        Raises:
            redis.RedisError, google.api_core.exceptions.GoogleAPIError: the caller retries.
        """
        lease = Lease(self.redis, f"vbq:lock:pack:{pack_id}", _LEASE_S)
        if not lease.acquire():
            return "locked"
        try:
            pack = self.requests.get_pack(pack_id)
            if pack is None:
                return "missing"
            if pack.state is PackState.OPEN:
                now = _redis_now(self.redis)
                due = now - pack.created_at >= self.settings.pack_max_wait_s
                if not (force or due):
                    return "open"
                self.book.seal(pack_id, reason="forced" if force and not due else "age")
                pack = self.requests.get_pack(pack_id)
                if pack is None:
                    return "missing"
            if pack.state is not PackState.SEALED:
                return pack.state.value
            return self._flush_sealed(pack, lease)
        finally:
            lease.release()

    def _flush_sealed(self, pack: PackRecord, lease: Lease) -> str:
        spec, uri, _ = pack_spec(pack, self.settings)
        started = time.monotonic()
        written = self._write(pack, uri, lease)
        record, created = self.store.create(
            NewSubmission(
                spec=spec,
                tenant=pack.tenant or PACK_TENANT,
                idempotency_key=f"pack:{pack.id}",
                metadata={
                    "vbq_pack": {
                        "pack_id": pack.id,
                        "requests": pack.rows,
                        "bytes": pack.bytes,
                        "reason": pack.reason,
                    }
                },
            )
        )
        # create() queued it with the scheduler (tenant, priority), like any submission: the
        # dispatcher publishes its submit when its turn and a create token come.
        self.book.mark_flushed(pack.id, submission_id=record.id, input_uri=uri)
        _log.info(
            "pack flushed",
            pack_id=pack.id,
            submission_id=record.id,
            created=created,
            rows=pack.rows,
            bytes=pack.bytes,
            reason=pack.reason,
            written=written,
            seconds=round(time.monotonic() - started, 3),
        )
        return "flushed"

    def _write(self, pack: PackRecord, uri: str, lease: Lease) -> bool:
        """Upload the pack's lines unless the object already holds them; True if uploaded."""
        client = self._client or storage_client()
        bucket, name = split_gs(uri)
        existing = client.bucket(bucket).get_blob(name)
        if existing is not None and int(existing.size or -1) == pack.bytes:
            return False
        rows = 0
        out = writer(uri, client=client)
        # On any error the writer is not closed: an unfinished resumable upload never becomes
        # an object, so a partial pack is never visible (the rerun starts a new upload).
        for page in self.book.iter_lines(pack.id):
            out.write(b"".join(line + b"\n" for line in page))
            rows += len(page)
            lease.renew()
        if rows != pack.rows:
            raise StoreError(f"pack {pack.id} holds {rows} lines, its record says {pack.rows}")
        out.close()
        return True


def _redis_now(redis: redis_lib.Redis) -> float:
    seconds, micros = redis.time()
    return float(seconds) + float(micros) / 1e6
