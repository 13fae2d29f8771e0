"""The archive of expired submissions (docs/contracts.md § Retention and archive).

Finished submissions leave Redis ``VBQ_RETENTION_S`` after they finished; before that the
:class:`Archiver` writes each one (record and timeline) as a newline-delimited JSON row to
``VBQ_ARCHIVE_PREFIX/dt={date}/tenant={tenant}/part-{batch}.jsonl``, loadable into BigQuery
with ``bigquery_schema.json``. :class:`ArchiveLookup` answers ``get`` for expired ids.
"""

from vbq.archive.archiver import Archiver, RetentionReport
from vbq.archive.layout import ArchivedAt, IndexLayout, part_path
from vbq.archive.lookup import ArchiveLookup
from vbq.archive.rows import ARCHIVE_SCHEMA, archive_row, bigquery_schema, record_from_row
from vbq.archive.writer import ArchiveWriter

__all__ = [
    "ARCHIVE_SCHEMA",
    "ArchiveLookup",
    "ArchiveWriter",
    "ArchivedAt",
    "Archiver",
    "IndexLayout",
    "RetentionReport",
    "archive_row",
    "bigquery_schema",
    "part_path",
    "record_from_row",
]
