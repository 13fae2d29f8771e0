"""The splitter (``vbq.split``): a Gemini input over the limits becomes parts, each a job.

Google takes at most 200,000 requests and 1 GB of Cloud Storage input per Gemini batch job;
an input over either fails at Google after waiting in its queue. For a held submission
(:mod:`vbq.workers.split_hook`) the splitter:

1. sizes the input objects (``gcsSource`` URIs, wildcards included) and, unless the bytes
   alone settle it, counts its requests by streaming them;
2. within ``VBQ_PACK_MAX_ROWS`` and ``VBQ_PACK_MAX_BYTES``: marks it ``whole`` and enqueues its
   submit (never split below the limits);
3. over them: marks it ``split``, streams the lines into parts filled up to the limits at
   ``{VBQ_PACK_PREFIX}/splits/{id}/part-00001.jsonl`` … (a rerun writes the same parts),
   creates one child submission per part (idempotency key ``split:{id}:{n}``, output under
   ``{gcs_destination_prefix}/vbq-split-{id}``, metadata ``vbq_split``), moves the parent to
   SUBMITTED (``job.submitted``; its ``job`` lists the parts) and enqueues the children. The
   parent finishes when its parts have (:mod:`vbq.workers.split_parent`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis as redis_lib

from vbq.events import JobEvent
from vbq.logs import get_logger
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.states import SubmissionState
from vbq.storage import iter_lines, list_objects, storage_client, writer
from vbq.store import JobStore, NewSubmission, SubmissionRecord
from vbq.store.results import ResultsBook
from vbq.workers.lease import Lease
from vbq.workers.split_hook import SPLIT, WHOLE, marker_key

__all__ = ["Part", "Splitter", "split_directory"]

_log = get_logger("vbq.workers.splitter")
_LEASE_S = 30.0
_MARKER_TTL_S = 30 * 24 * 3600
_S = SubmissionState


@dataclass(frozen=True)
class Part:
    """One part written: where, and how many requests and bytes."""

    uri: str
    rows: int
    bytes: int


def split_directory(rec: SubmissionRecord) -> str:
    """Where the parts' outputs go (and the parent's ``gcsOutputDirectory``)."""
    return f"{str(rec.spec.gcs_destination_prefix).rstrip('/')}/vbq-split-{rec.id}"


class Splitter:
    """Measures and splits held submissions (see the module docstring).

    Args:
        redis: the vbq Redis.
        settings: limits and prefix.
        store: the job store.
        enqueue_submit: publishes ``vbq.submit`` for a held submission found ``whole``.
        client: a google-cloud-storage client (default: the thread's).
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        settings: Settings,
        store: JobStore,
        enqueue_submit: Callable[[str], Any],
        client: Any = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.store = store
        self.enqueue_submit = enqueue_submit
        self.client = client
        self.results = ResultsBook(redis)

    def split(self, submission_id: str) -> str:
        """Measure (and split) one held submission; returns what it did.

        Raises:
            google.api_core.exceptions.GoogleAPIError, redis.RedisError: the caller retries.
        """
        lease = Lease(self.redis, f"vbq:lock:split:{submission_id}", _LEASE_S)
        if not lease.acquire():
            return "locked"
        try:
            rec = self.store.get(submission_id)
            if rec.state is not _S.ACCEPTED:
                return f"state {rec.state.value}"
            client = self.client or storage_client()
            blobs = [
                b for uri in rec.spec.gcs_source or () for b in list_objects(uri, client=client)
            ]
            size = sum(int(b.size or 0) for b in blobs)
            s = self.settings
            whole = size <= s.pack_max_bytes and (
                size < 2 * s.pack_max_rows or _count_rows(blobs, lease) <= s.pack_max_rows
            )
            if whole or not blobs:
                self.redis.set(marker_key(rec.id), WHOLE, ex=_MARKER_TTL_S)
                self.enqueue_submit(rec.id)
                return "whole"
            self.redis.set(marker_key(rec.id), SPLIT, ex=_MARKER_TTL_S)
            parts = self._write_parts(rec, blobs, lease)
            children = self._children(rec, parts)
            # create_many queued the parts with the scheduler: the dispatcher publishes them.
            self._submit_parent(rec, parts, children)
            _log.info("split", submission_id=rec.id, parts=len(parts), bytes=size)
            return f"split into {len(parts)}"
        finally:
            lease.release()

    def _write_parts(self, rec: SubmissionRecord, blobs: list[Any], lease: Lease) -> list[Part]:
        s = self.settings
        parts: list[Part] = []
        out: Any = None
        rows = size = 0

        def close() -> None:
            if out is not None:
                out.close()
                parts.append(Part(uri=uri, rows=rows, bytes=size))

        uri = ""
        for line in _lines(blobs, lease):
            n = len(line) + 1
            if out is None or rows + 1 > s.pack_max_rows or (rows and size + n > s.pack_max_bytes):
                close()
                uri = f"{s.pack_prefix}/splits/{rec.id}/part-{len(parts) + 1:05d}.jsonl"
                out = writer(uri, client=self.client or storage_client())
                rows = size = 0
            out.write(line + b"\n")
            rows += 1
            size += n
        close()
        return parts

    def _children(self, rec: SubmissionRecord, parts: list[Part]) -> list[str]:
        base = rec.spec.to_dict()
        name = str(base.get("job_display_name") or "vbq split")[:100]
        labels = dict(base.get("labels") or {})
        labels["vbq_split"] = rec.id
        items = []
        for n, part in enumerate(parts, start=1):
            spec = JobSpec.from_dict(
                {
                    **base,
                    "gcs_source": [part.uri],
                    "gcs_destination_prefix": split_directory(rec),
                    "job_display_name": f"{name} part {n}/{len(parts)}",
                    "labels": labels,
                }
            )
            meta = {**rec.metadata, "vbq_split": {"parent": rec.id, "part": n, "parts": len(parts)}}
            items.append(
                NewSubmission(
                    spec=spec,
                    tenant=rec.tenant,
                    idempotency_key=f"split:{rec.id}:{n}",
                    metadata=meta,
                )
            )
        out: list[str] = []
        for result in self.store.create_many(items):  # raises on a conflict: never expected
            assert not isinstance(result, Exception)
            out.append(result[0].id)
        return out

    def _submit_parent(self, rec: SubmissionRecord, parts: list[Part], children: list[str]) -> None:
        job = {
            "displayName": rec.spec.job_display_name,
            "model": rec.model,
            "state": "JOB_STATE_PENDING",
            "labels": dict(rec.labels),
            "outputInfo": {"gcsOutputDirectory": split_directory(rec)},
            "vbqParts": [
                {"submissionId": sid, "input": p.uri, "requests": p.rows, "bytes": p.bytes}
                for sid, p in zip(children, parts, strict=True)
            ],
        }
        event = JobEvent.create(
            type="job.submitted",
            submission_id=rec.id,
            state=_S.SUBMITTED.value,
            previous_state=_S.ACCEPTED.value,
            job=job,
            tenant=rec.tenant,
            location=rec.location,
            priority=rec.priority,
            labels=rec.labels,
            metadata=rec.metadata,
        )
        metadata = {**rec.metadata, "vbq_split_parts": children}
        self.store.transition(
            rec.id,
            expected={_S.ACCEPTED},
            new_state=_S.SUBMITTED,
            updates={"job": job, "metadata": metadata},
            event=event,
        )
        self.results.watch(rec.id)


def _lines(blobs: list[Any], lease: Lease) -> Iterator[bytes]:
    for blob in blobs:
        for n, (_, line) in enumerate(iter_lines(blob)):
            if line.strip():
                yield line
            if n % 20000 == 0:
                lease.renew()


def _count_rows(blobs: list[Any], lease: Lease) -> int:
    return sum(1 for _ in _lines(blobs, lease))
