"""What the producer client needs from the job store and the broker, as Protocols.

The real :class:`vbq.store.JobStore` and :class:`vbq.broker.Enqueuer` satisfy them; keeping the
client typed against these keeps it free of how either is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from vbq.errors import IdempotencyConflictError, TenantCapError
from vbq.redisconn import client_for
from vbq.settings import Settings
from vbq.states import SubmissionState
from vbq.store.paging import Cursor
from vbq.store.records import NewSubmission, SubmissionRecord
from vbq.store.removal import Remover
from vbq.store.scanning import ScanPage, ScanQuery

__all__ = ["Enqueuer", "StorePort", "WorkersEnqueuer"]

# ``StorePort.list`` shadows the builtin inside the class body, where annotations resolve.
_Records = list[SubmissionRecord]


class StorePort(Protocol):
    """The job store operations producers use (docs/contracts.md § Job store)."""

    def create(self, item: NewSubmission) -> tuple[SubmissionRecord, bool]: ...

    def create_many(
        self, items: Iterable[NewSubmission], *, return_exceptions: bool = False
    ) -> Sequence[tuple[SubmissionRecord, bool] | IdempotencyConflictError | TenantCapError]: ...

    def get(self, submission_id: str, tenant: str | None = None) -> SubmissionRecord: ...

    def list(
        self,
        *,
        tenant: str | None = None,
        state: SubmissionState | str | None = None,
        label: tuple[str, str] | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> tuple[list[SubmissionRecord], str | None]: ...

    def count_by_state(self) -> dict[SubmissionState, int]: ...

    def delete(self, submission_id: str, *, tenant: str | None = None) -> SubmissionRecord: ...

    @property
    def remover(self) -> Remover:
        """Deletes finished submissions; tells whether one was deleted."""

    def scan(
        self, query: ScanQuery, *, page_size: int, after: Cursor | None, max_examined: int
    ) -> tuple[_Records, ScanPage]: ...


class Enqueuer(Protocol):
    """Sends work to the Celery workers."""

    def enqueue_submit_many(self, submission_ids: Sequence[str]) -> None:
        """Send one ``vbq.submit`` task per id (pipelined where the broker allows)."""

    def enqueue_cancel(self, submission_id: str) -> None:
        """Send one ``vbq.cancel`` task."""


class WorkersEnqueuer:
    """The real enqueuer: :class:`vbq.broker.Enqueuer` on a publishing Celery app built for
    ``settings`` (so a client made with explicit settings publishes to *their* broker, not to
    the one in the environment).

    The Celery app and the Redis connection are built on first use, so that constructing a
    client never connects anywhere.

    Args:
        settings: ``broker_url`` receives the messages; ``redis_url`` gets the due marks the
            workers' sweeper reads.
    """

    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings
        self._impl: Any = None

    def _enqueuer(self) -> Any:
        if self._impl is None:
            from vbq.broker import Enqueuer as CeleryEnqueuer
            from vbq.broker import create_app

            self._impl = CeleryEnqueuer(
                celery_app=create_app(self.settings),
                redis_client=client_for(self.settings, decode_responses=True),
                settings=self.settings,
            )
        return self._impl

    def enqueue_submit_many(self, submission_ids: Sequence[str]) -> None:
        """Send ``vbq.submit`` for each id over one broker connection.

        Raises:
            redis.RedisError: the vbq Redis is unreachable (nothing was published).
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        if submission_ids:
            self._enqueuer().submit_many(list(submission_ids))

    def enqueue_cancel(self, submission_id: str) -> None:
        """Send ``vbq.cancel`` for the id.

        Raises:
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        self._enqueuer().cancel(submission_id)

    def enqueue_pack_flush(self, pack_ids: Sequence[str]) -> None:
        """Send ``vbq.pack.flush`` for each sealed pack.

        Raises:
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        from vbq.broker.names import TASK_PACK_FLUSH

        self._enqueuer().send(TASK_PACK_FLUSH, [[pid] for pid in pack_ids])
