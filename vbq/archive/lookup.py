"""Answering for submissions that left Redis: the archive index, then one ranged read.

``find`` probes the index buckets that may still exist (one pipelined round trip, a few dozen
``HGET``), then reads exactly the submission's line from its archive object. Tenant scoping is
the store's: another tenant's archived submission is not found, its existence not revealed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import redis as redis_lib

from vbq.archive.layout import DAY_S, ArchivedAt, IndexLayout
from vbq.archive.rows import record_from_row
from vbq.errors import NotFoundError, StoreError, SubmissionExpiredError
from vbq.settings import Settings
from vbq.storage import read_range
from vbq.store.records import SubmissionRecord

__all__ = ["ArchiveLookup"]


class ArchiveLookup:
    """Finds expired submissions in the archive.

    Args:
        redis: the store's Redis client.
        settings: ``archive_prefix``, ``retention_s``, ``archive_index_ttl_s``.
        bucket_s: index bucket width (must match the archiver's).
        clock: epoch seconds.
        storage_client: a google-cloud-storage client (default: vbq.storage's).
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        settings: Settings,
        bucket_s: float = DAY_S,
        clock: Callable[[], float] = time.time,
        storage_client: Any = None,
    ) -> None:
        self.redis = redis
        self.prefix = settings.archive_prefix
        self.layout = IndexLayout(
            retention_s=settings.retention_s,
            index_ttl_s=settings.archive_index_ttl_s,
            bucket_s=bucket_s,
        )
        self.clock = clock
        self.storage_client = storage_client

    def where(self, submission_id: str) -> ArchivedAt | None:
        """What the index says about ``submission_id`` (None: it knows nothing of it)."""
        buckets = self.layout.buckets_alive(self.clock())
        pipe = self.redis.pipeline(transaction=False)
        for bucket in reversed(buckets):  # newest first: a reused id's latest life wins
            pipe.hget(self.layout.key(bucket, submission_id), submission_id)
        for value in pipe.execute():
            if value is not None:
                return ArchivedAt.decode(value.decode() if isinstance(value, bytes) else value)
        return None

    def find(self, submission_id: str, *, tenant: str | None = None) -> SubmissionRecord:
        """The archived record of ``submission_id``.

        Raises:
            NotFoundError: the index knows nothing of it (never existed, or expired longer
                ago than ``VBQ_ARCHIVE_INDEX_TTL_S``), or it is another tenant's.
            SubmissionExpiredError: it expired without an archive, or its archive object is
                gone, unreadable or not readable with this process's credentials.
            google.api_core.exceptions.GoogleAPIError: Cloud Storage failed otherwise
                (transient: retry).
        """
        at = self.where(submission_id)
        if at is None or (tenant is not None and at.tenant != tenant):
            raise NotFoundError(f"submission {submission_id} not found")
        if not at.path or not self.prefix:
            raise self._expired(submission_id, at, "it was not archived")
        # Google's libraries load only when an archived id is read (import vbq stays light).
        from google.api_core.exceptions import Forbidden, NotFound, Unauthorized
        from google.auth.exceptions import DefaultCredentialsError

        uri = f"{self.prefix}/{at.path}"
        try:
            line = read_range(uri, at.offset, at.length, client=self.storage_client)
            record = record_from_row(json.loads(line))
        except (StoreError, ValueError) as exc:
            reason = f"its archive is unreadable: {exc}"
            raise self._expired(submission_id, at, reason) from None
        except NotFound:
            raise self._expired(submission_id, at, f"its archive {uri} is gone") from None
        except (Forbidden, Unauthorized, DefaultCredentialsError) as exc:
            # A process without read access to the archive still says what happened to it.
            reason = f"its archive {uri} cannot be read here: {type(exc).__name__}"
            raise self._expired(submission_id, at, reason) from None
        if record.id != submission_id or (tenant is not None and record.tenant != tenant):
            raise NotFoundError(f"submission {submission_id} not found")
        return record

    def _expired(self, submission_id: str, at: ArchivedAt, reason: str) -> NotFoundError:
        return SubmissionExpiredError(submission_id, finished_date=at.date, reason=reason)
