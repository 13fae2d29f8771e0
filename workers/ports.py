"""What the submit and cancel logic needs from the store, the Vertex client and the limits.

Typed as Protocols so that :mod:`vbq.workers.submit` and :mod:`vbq.workers.cancel` stay free of
Celery and of how each part is built: the real :class:`vbq.store.JobStore`,
:class:`vbq.vertex.VertexClient`, :class:`vbq.quota.ratelimit.RateLimiter` and
:class:`vbq.quota.slots.Slots` satisfy them, and unit tests pass small fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from vbq.events import JobEvent

__all__ = ["Decision", "Limiter", "SlotPool", "Store", "Vertex"]


class Decision(Protocol):
    """A rate-limit answer: may the call go now, else how long to wait (seconds)."""

    @property
    def allowed(self) -> bool: ...

    @property
    def retry_after_s(self) -> float: ...


class Limiter(Protocol):
    """Global GCRA limiter per (kind, project, location); kind is ``create`` or ``read``."""

    def try_acquire(self, kind: str, project: str, location: str) -> Decision: ...


class SlotPool(Protocol):
    """In-flight caps per (project, location) and per model."""

    def try_take(
        self,
        submission_id: str,
        project: str,
        location: str,
        model: str | None,
        lease_s: float,
    ) -> Any: ...

    def release(
        self, submission_id: str, project: str, location: str, model: str | None
    ) -> Any: ...

    def hold(self, submission_id: str, project: str, location: str, model: str | None) -> Any: ...


class Store(Protocol):
    """The job store operations the workers use."""

    def get(self, submission_id: str, tenant: str | None = None) -> Any: ...

    def transition(
        self,
        submission_id: str,
        *,
        expected: Iterable[Any],
        new_state: Any,
        updates: Mapping[str, Any] | None = None,
        event: JobEvent | None = None,
    ) -> Any: ...

    def record_attempt(
        self,
        submission_id: str,
        error: str | None = None,
        *,
        expected: Iterable[Any] | None = None,
        new_state: Any = None,
        expected_location: str | None = None,
    ) -> Any: ...

    def touch(
        self,
        submission_id: str,
        *,
        expected: Iterable[Any] | None = None,
        updates: Mapping[str, Any] | None = None,
    ) -> Any: ...


class Vertex(Protocol):
    """The Vertex REST calls the workers make."""

    def create_batch_prediction_job(
        self,
        parent: str,
        body: dict[str, Any],
        *,
        api_version: str = "v1",
        timeout_s: float | None = None,
    ) -> dict[str, Any]: ...

    def list_batch_prediction_jobs(
        self, parent: str, *, filter: str = "", page_size: int = 100, page_token: str = ""
    ) -> Any: ...

    def cancel_batch_prediction_job(self, name: str) -> None: ...
