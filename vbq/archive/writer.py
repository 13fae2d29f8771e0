"""Writing one archive batch to Cloud Storage: one NDJSON object per (date, tenant) group.

Object names depend only on the batch id, the date and the tenant (:func:`part_path`), and a
batch is retried with the same ids after a crash, so writing it again replaces the same
objects: every row is written once whatever happens between writing and expiring.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from vbq.archive.layout import ArchivedAt, part_path
from vbq.storage import storage_client, write_bytes

__all__ = ["ArchiveWriter", "group_rows"]

_NDJSON = "application/x-ndjson"


def group_rows(
    rows: Sequence[tuple[str, Mapping[str, Any]]],
) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """``(date, tenant) -> rows`` in the given order; each item is ``(date, row)``."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for date, row in rows:
        groups.setdefault((date, str(row["tenant"])), []).append(row)
    return groups


class ArchiveWriter:
    """Writes archive batches under a ``gs://`` prefix.

    Args:
        prefix: ``gs://bucket/path`` (``VBQ_ARCHIVE_PREFIX``, no trailing slash).
        client: a google-cloud-storage client (default: :func:`vbq.storage.storage_client`).
    """

    def __init__(self, prefix: str, *, client: Any = None) -> None:
        self.prefix = prefix.rstrip("/")
        self._client = client

    def uri(self, path: str) -> str:
        """The ``gs://`` URI of an object path under the prefix."""
        return f"{self.prefix}/{path}"

    def write_batch(
        self, batch: str, rows: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> dict[str, ArchivedAt]:
        """Write ``rows`` (``(finished date, row)``) as batch ``batch``; returns where each
        submission id's line is.

        Raises:
            google.api_core.exceptions.GoogleAPIError: Cloud Storage refused a write.
        """
        client = self._client or storage_client()
        where: dict[str, ArchivedAt] = {}
        for (date, tenant), group in sorted(group_rows(rows).items()):
            path = part_path(date, tenant, batch)
            lines: list[bytes] = []
            offset = 0
            for row in group:
                line = json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode()
                lines.append(line)
                where[str(row["submission_id"])] = ArchivedAt(
                    date=date, tenant=tenant, batch=batch, offset=offset, length=len(line)
                )
                offset += len(line) + 1
            data = b"\n".join(lines) + b"\n"
            write_bytes(self.uri(path), data, content_type=_NDJSON, client=client)
        return where
