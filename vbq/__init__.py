"""vertex-batch-queue: queue, rate-limit and track Vertex AI batch prediction jobs.

```python
from vbq import Client

client = Client.from_env()
sub = client.submit(model_name="publishers/google/models/gemini-2.0-flash-001",
                    gcs_source="gs://b/in.jsonl", gcs_destination_prefix="gs://b/out")
sub.wait(timeout_s=3600)
```

One installed namespace (docs/architecture.md § Layout): the core (job spec, job store, events,
settings, logging, the Vertex AI REST client) in ``vbq.*`` modules, the roles in
:mod:`vbq.producers`, :mod:`vbq.workers` and :mod:`vbq.subscribers`, the CLI in :mod:`vbq.cli`.
The emulators and the demo are extras (:mod:`vbq_emulators`, :mod:`vbq_demo`).

``Client``, ``Submission`` and ``BatchResult`` are the producers' public names, re-exported here
and imported on first use, so that ``import vbq`` (a worker, a subscriber) never loads them.
"""

from typing import TYPE_CHECKING, Any

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
    SubmissionExpiredError,
    TenantAccessError,
    TenantCapError,
    VbqError,
    VertexAmbiguousError,
    VertexError,
    VertexPermanentError,
    VertexRetryableError,
)
from vbq.settings import Settings
from vbq.states import FINISHED_VERTEX_STATES, JobState, SubmissionState

if TYPE_CHECKING:
    from vbq.producers import BatchResult, Client, Submission

from vbq.version import __version__

_PRODUCER_NAMES = frozenset({"BatchResult", "Client", "Submission"})


def __getattr__(name: str) -> Any:
    # PEP 562: the producers' names load on first use (the core never imports a role eagerly).
    if name in _PRODUCER_NAMES:
        from vbq import producers

        return getattr(producers, name)
    raise AttributeError(f"module 'vbq' has no attribute {name!r}")


__all__ = [
    "FINISHED_VERTEX_STATES",
    "BatchResult",
    "Client",
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
    "Submission",
    "SubmissionExpiredError",
    "SubmissionState",
    "TenantAccessError",
    "TenantCapError",
    "VbqError",
    "VertexAmbiguousError",
    "VertexError",
    "VertexPermanentError",
    "VertexRetryableError",
    "__version__",
]
