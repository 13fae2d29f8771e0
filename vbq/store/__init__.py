"""The job store: submissions in Redis (docs/contracts.md § Job store).

``JobStore`` creates, reads, lists and changes submissions; every write is one atomic Lua call
that also maintains the listing indexes, the poller's in-flight list and the outbox stream.
"""

from vbq.store.counts import TenantStateCounts, read_counts
from vbq.store.query import QueryPage, SubmissionQuery, query_page
from vbq.store.records import NewSubmission, SubmissionRecord, submission_id_for
from vbq.store.reindex import ReindexReport, reindex
from vbq.store.store import IN_FLIGHT_STATES, JobStore
from vbq.store.timeline import TimelineEntry, read_timeline

__all__ = [
    "IN_FLIGHT_STATES",
    "JobStore",
    "NewSubmission",
    "QueryPage",
    "ReindexReport",
    "SubmissionQuery",
    "SubmissionRecord",
    "TenantStateCounts",
    "TimelineEntry",
    "query_page",
    "read_counts",
    "read_timeline",
    "reindex",
    "submission_id_for",
]
