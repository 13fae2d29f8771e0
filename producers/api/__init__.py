"""The HTTP API of vbq (``vbq api``): FastAPI app, API-key auth, problem details, limits."""

from vbq.producers.api.app import MAX_BATCH_ITEMS, create_app
from vbq.producers.api.auth import ApiKeyRing, ReloadingKeyRing, generate_api_key, hash_api_key
from vbq.producers.api.problems import ProblemError

__all__ = [
    "MAX_BATCH_ITEMS",
    "ApiKeyRing",
    "ProblemError",
    "ReloadingKeyRing",
    "create_app",
    "generate_api_key",
    "hash_api_key",
]
