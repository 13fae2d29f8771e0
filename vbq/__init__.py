"""vbq: the shared core of vertex-batch-queue.

Job spec, job store, events, settings, logging, the Vertex AI REST client and the CLI live here;
the local emulators that stand in for Google live in :mod:`vbq.emulators`.
"""

from vbq.errors import (
    ConfigError,
    EventError,
    HandlerError,
    IdempotencyConflictError,
    NotFoundError,
    PubSubError,
    SpecError,
    StateConflictError,
    StoreError,
    TenantAccessError,
    VbqError,
    VertexAmbiguousError,
    VertexError,
    VertexPermanentError,
    VertexRetryableError,
)
from vbq.settings import Settings
from vbq.states import FINISHED_VERTEX_STATES, JobState, SubmissionState

__version__ = "0.1.0"

__all__ = [
    "FINISHED_VERTEX_STATES",
    "ConfigError",
    "EventError",
    "HandlerError",
    "IdempotencyConflictError",
    "JobState",
    "NotFoundError",
    "PubSubError",
    "Settings",
    "SpecError",
    "StateConflictError",
    "StoreError",
    "SubmissionState",
    "TenantAccessError",
    "VbqError",
    "VertexAmbiguousError",
    "VertexError",
    "VertexPermanentError",
    "VertexRetryableError",
    "__version__",
]
