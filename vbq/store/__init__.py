"""The job store: submissions in Redis (docs/contracts.md § Job store).

``JobStore`` creates, reads, lists and changes submissions; every write is one atomic Lua call
that also maintains the listing indexes, the poller's in-flight list and the outbox stream.
"""

from vbq.store.records import NewSubmission, SubmissionRecord, submission_id_for
from vbq.store.store import IN_FLIGHT_STATES, JobStore

__all__ = [
    "IN_FLIGHT_STATES",
    "JobStore",
    "NewSubmission",
    "SubmissionRecord",
    "submission_id_for",
]
