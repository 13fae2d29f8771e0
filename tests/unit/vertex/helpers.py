"""Helpers for the Vertex client's unit tests: a client over ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from vbq.settings import Settings
from vbq.vertex import VertexClient

PARENT = "projects/p1/locations/europe-west4"
JOB = f"{PARENT}/batchPredictionJobs/123"
EMULATOR = "http://127.0.0.1:9"

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(
    handler: Handler, *, settings: Settings | None = None, **kwargs: Any
) -> VertexClient:
    """A client for an emulator endpoint whose HTTP exchanges go to ``handler``."""
    return VertexClient(
        settings=settings or Settings(vertex_endpoint=EMULATOR),
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def google_error(code: int, status: str, message: str, **extra: Any) -> dict[str, Any]:
    """Google's JSON error body."""
    return {"error": {"code": code, "status": status, "message": message, **extra}}


def raising(exc: Exception) -> Handler:
    """A handler that fails the exchange with ``exc`` (as httpx's transport would)."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler
