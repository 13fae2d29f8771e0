"""Where archived submissions live: object names in Cloud Storage and the index in Redis.

Objects: ``{VBQ_ARCHIVE_PREFIX}/dt={YYYY-MM-DD}/tenant={tenant}/part-{batch}.jsonl``, the date
being the UTC day the submission finished, the tenant escaped (:func:`tenant_segment`),
``batch`` a deterministic id of the archiver's batch (hash of its ids),
so a batch written twice after a crash replaces its own objects instead of adding rows.

Index: ``vbq:archived:{bucket}:{id[:3]}`` hashes, field = submission id, value
``{date}|{tenant}|{batch}|{byte offset}|{byte length}`` (the object is :func:`part_path` of
the first three; batch empty when it expired without an archive), ``bucket`` =
``floor(finished_at / bucket_s)`` (a day). A bucket key expires ``retention_s + index_ttl_s``
after its day ends. 4,096 hashes per day: each stays listpack-encoded (compact) up to Redis'
``hash-max-listpack-entries`` (128) fields, i.e. ~500,000 expiries a day (raise that setting
to 512 for ~2 M), while a quiet deployment does not pay a key per id; a lookup probes the few
dozen buckets that may still exist (one pipelined round trip). The soak benchmark measures the
bytes per expired id.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from urllib.parse import quote, unquote

from vbq.store.keys import PREFIX

__all__ = [
    "DAY_S",
    "ArchivedAt",
    "IndexLayout",
    "part_path",
    "tenant_segment",
]

_SAFE = frozenset(string.ascii_letters + string.digits + "_.-")

DAY_S = 86_400
"""Default index bucket width, in seconds."""


def tenant_segment(tenant: str) -> str:
    """The tenant as a path segment: ``A-Z a-z 0-9 _ . -`` kept, every other byte of its
    UTF-8 as ``~XX`` (hex), so names stay free of ``/``, ``=`` and ``%``."""
    return "".join(
        ch if ch in _SAFE else "".join(f"~{b:02X}" for b in ch.encode()) for ch in tenant
    )


def part_path(date: str, tenant: str, batch: str) -> str:
    """Object path under the archive prefix of one (date, tenant) group of a batch."""
    return f"dt={date}/tenant={tenant_segment(tenant)}/part-{batch}.jsonl"


@dataclass(frozen=True, kw_only=True)
class ArchivedAt:
    """What the index says about one expired submission.

    Attributes:
        date: UTC day it finished (``YYYY-MM-DD``).
        tenant: its tenant.
        batch: the archive batch that wrote it; empty when it was not archived.
        offset / length: its line's bytes in that object.
    """

    date: str
    tenant: str
    batch: str = ""
    offset: int = 0
    length: int = 0

    def encode(self) -> str:
        """The index value."""
        tenant = quote(self.tenant, safe="")
        return f"{self.date}|{tenant}|{self.batch}|{self.offset}|{self.length}"

    @property
    def path(self) -> str:
        """Object path under the archive prefix ("" when it was not archived)."""
        return part_path(self.date, self.tenant, self.batch) if self.batch else ""

    @classmethod
    def decode(cls, value: str) -> ArchivedAt:
        """Parse an index value (a malformed one reads as "not archived", tenant unknown)."""
        parts = value.split("|")
        if len(parts) != 5:
            return cls(date=parts[0] if parts else "?", tenant="")
        date, tenant, batch, offset, length = parts
        try:
            return cls(
                date=date,
                tenant=unquote(tenant),
                batch=batch,
                offset=int(offset),
                length=int(length),
            )
        except ValueError:
            return cls(date=date, tenant=unquote(tenant))


@dataclass(frozen=True, kw_only=True)
class IndexLayout:
    """Index keys and their lifetimes.

    Args:
        retention_s: the store's retention (``VBQ_RETENTION_S``).
        index_ttl_s: how long after expiry the index remembers an id (``VBQ_ARCHIVE_INDEX_TTL_S``).
        bucket_s: index bucket width (a day; the soak benchmark scales it down).
    """

    retention_s: float
    index_ttl_s: float
    bucket_s: float = DAY_S

    def bucket_of(self, finished_at_s: float) -> int:
        """Index bucket of a submission that finished at ``finished_at_s``."""
        return math.floor(finished_at_s / self.bucket_s)

    def key(self, bucket: int, submission_id: str) -> str:
        """The index hash holding ``submission_id`` in ``bucket``."""
        return f"{PREFIX}archived:{bucket}:{submission_id[:3]}"

    def expire_at_s(self, bucket: int) -> int:
        """When the bucket's keys expire (epoch s)."""
        return math.ceil((bucket + 1) * self.bucket_s + self.retention_s + self.index_ttl_s)

    def buckets_alive(self, now_s: float) -> range:
        """Buckets whose keys may still exist at ``now_s``, newest last."""
        first = math.floor((now_s - self.retention_s - self.index_ttl_s) / self.bucket_s) - 1
        return range(first, self.bucket_of(now_s) + 1)
