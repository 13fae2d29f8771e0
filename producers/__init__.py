"""Producers: put Vertex AI batch prediction jobs on the queue.

```python
from vbq.producers import Client

client = Client.from_env()
sub = client.submit(job_display_name="nightly", model_name="publishers/google/models/gemini-2.0",
                    gcs_source="gs://b/in.jsonl", gcs_destination_prefix="gs://b/out",
                    idempotency_key="nightly-2024-05-01")
sub.wait(timeout_s=3600)
```

The HTTP API lives in :mod:`vbq.producers.api` (``vbq api``), the CLI in :mod:`vbq.cli.jobs`.
"""

from vbq.producers.batch import BatchResult, ItemError, ItemResult
from vbq.producers.client import DEFAULT_BATCH_SIZE, Client
from vbq.producers.credentials import ApiKeyCredentials
from vbq.producers.submission import Submission

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ApiKeyCredentials",
    "BatchResult",
    "Client",
    "ItemError",
    "ItemResult",
    "Submission",
]
