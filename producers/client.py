"""``Client``: submit batch prediction jobs to vbq with the SDK's own keyword arguments.

``submit()`` validates the request (:meth:`vbq.spec.JobSpec.from_sdk_kwargs`; a bad one raises
:class:`~vbq.errors.SpecError` before anything is written) and stores it in state ACCEPTED,
in its tenant's scheduler queue (one Lua call, :mod:`vbq.scheduler`): once ``submit()``
returned, the request is durable and waiting. The workers' dispatcher sends the ``vbq.submit``
task when the tenant's fair share, the rate and an in-flight slot allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vbq.archive import ArchiveLookup
from vbq.errors import (
    NotFoundError,
    StateConflictError,
)
from vbq.logs import get_logger
from vbq.producers.ports import Enqueuer, StorePort, WorkersEnqueuer
from vbq.producers.requests.client import RequestsMixin
from vbq.producers.submission import Submission
from vbq.producers.submit_many import DEFAULT_BATCH_SIZE, SubmitManyMixin
from vbq.settings import Settings
from vbq.spec.genai import sdk_kwargs_from_genai, unique_name
from vbq.states import SubmissionState
from vbq.store import JobStore, SubmissionRecord

__all__ = ["DEFAULT_BATCH_SIZE", "Client"]

_ID_RE = re.compile(r"^[0-9a-f]{32}$")

log = get_logger(__name__)


class Client(SubmitManyMixin, RequestsMixin):
    """Submit, read, list and cancel submissions; submit many at once
    (:class:`~vbq.producers.submit_many.SubmitManyMixin`: ``submit_many``); add single Gemini
    requests (:class:`~vbq.producers.requests.RequestsMixin`: ``add_request``,
    ``add_requests``, ``get_request``).

    Args:
        settings: vbq settings (default project and location resolve specs).
        store: the job store (``JobStore.from_settings(settings)``).
        enqueuer: sends Celery tasks (default: :class:`~vbq.producers.ports.WorkersEnqueuer`,
            the workers' publisher on a Celery app for ``settings``).
        archive: finds expired submissions (default: an :class:`~vbq.archive.ArchiveLookup`
            on the store's Redis).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        store: StorePort,
        enqueuer: Enqueuer | None = None,
        archive: ArchiveLookup | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.enqueuer: Enqueuer = enqueuer or WorkersEnqueuer(settings=settings)
        redis = getattr(store, "redis", None)
        self.archive = archive or (
            ArchiveLookup(redis=redis, settings=settings) if redis is not None else None
        )
        """Answers ``get`` for submissions that expired from the store (None: not asked)."""

    @classmethod
    def from_env(cls) -> Client:
        """A client configured from ``VBQ_*`` environment variables.

        Raises:
            ConfigError: a variable is malformed.
        """
        return cls.from_settings(Settings.from_env())

    @classmethod
    def from_settings(cls, settings: Settings, *, enqueuer: Enqueuer | None = None) -> Client:
        """A client with its own job store connection for ``settings``."""
        return cls(settings=settings, store=JobStore.from_settings(settings), enqueuer=enqueuer)

    def close(self) -> None:
        """Close the job store's connections (the client is unusable afterwards)."""
        close = getattr(self.store, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- submit ---------------------------------------------------------------------------------

    def submit(
        self,
        /,
        *,
        idempotency_key: str | None = None,
        tenant: str = "default",
        metadata: Mapping[str, Any] | None = None,
        priority: str = "default",
        locations: Sequence[str] | None = None,
        **sdk_kwargs: Any,
    ) -> Submission:
        """Queue one batch prediction job.

        Args:
            idempotency_key: the same key (per tenant) always returns the same submission; a
                resubmit with another spec raises :class:`IdempotencyConflictError`.
            tenant: owner of the submission (listing and reads are scoped by it).
            metadata: JSON object carried into every event of the job.
            priority: ``interactive``, ``default`` or ``bulk``: order within the tenant's
                queue (docs/contracts.md § Scheduler).
            locations: where the job may run, e.g. ``["us-central1", "europe-west4"]``: the
                scheduler places it where capacity is free (docs/contracts.md § Placement);
                None: the spec's location.
            **sdk_kwargs: the keyword arguments of ``aiplatform.BatchPredictionJob.submit()``.

        Returns:
            The :class:`Submission` (``created`` is False for an idempotent replay).

        Raises:
            SpecError: a rule was broken (names every field and rule); nothing was written.
            IdempotencyConflictError: the key is bound to a submission with another spec.
            TenantCapError: the tenant is at its ``max_queued`` cap; nothing was written.
        """
        new = self._prepare(
            sdk_kwargs, idempotency_key, tenant, metadata, priority, locations=locations
        )
        # Stored and queued in one Lua call: the dispatcher sends it when its turn comes.
        record, created = self.store.create(new)
        return self._handle(record, created=created, tenant=record.tenant)

    def create_batch(
        self,
        *,
        model: str,
        src: Any,
        config: Any = None,
        labels: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        tenant: str = "default",
        metadata: Mapping[str, Any] | None = None,
        priority: str = "default",
    ) -> Submission:
        """Queue one job with google-genai's arguments, as ``client.batches.create(model=...,
        src=..., config=...)`` sends them to Vertex AI (:mod:`vbq.spec.genai`: short model names,
        ``gs://``/``bq://`` sources, genai's default display name and destination).

        Args:
            model: ``gemini-2.0-flash-001``, ``publisher/model`` or a resource name.
            src: ``gs://…``, ``bq://…`` or a ``BatchJobSource`` (object or dict).
            config: a ``CreateBatchJobConfig`` (object or dict): ``display_name``, ``dest``.
            labels: job labels (genai has none on this call; vbq passes them to Vertex).
            idempotency_key, tenant, metadata, priority: as :meth:`submit`; with a key, names
                derive from it, so a retry builds the same job.

        Raises:
            SpecError: an argument genai would refuse on Vertex AI or a broken spec rule.
            IdempotencyConflictError: as :meth:`submit`.
        """
        stable = f"{tenant}\0{idempotency_key}" if idempotency_key is not None else None
        kwargs = sdk_kwargs_from_genai(
            model=model, src=src, config=config, unique=unique_name(stable)
        )
        if labels is not None:
            kwargs["labels"] = labels
        kwargs.update(tenant=tenant, metadata=metadata, priority=priority)
        return self.submit(idempotency_key=idempotency_key, **kwargs)

    # -- read -----------------------------------------------------------------------------------

    def get(self, submission_id: str, *, tenant: str | None = None) -> Submission:
        """The submission ``submission_id``.

        A submission that left the store after the retention window is read from the archive
        (``VBQ_ARCHIVE_PREFIX``).

        Args:
            tenant: when given, another tenant's submission is reported as not found.

        Raises:
            NotFoundError: no such submission (or not this tenant's).
            SubmissionExpiredError: (a NotFoundError) it expired and its archive cannot be
                read (not archived, or the object is gone).
        """
        return self._handle(self._fetch(submission_id, tenant), tenant=tenant)

    def list(
        self,
        *,
        tenant: str | None = None,
        state: SubmissionState | str | None = None,
        label: tuple[str, str] | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> tuple[list[Submission], str | None]:
        """One page of submissions, newest first; filters combine with AND.

        Returns:
            ``(submissions, next_page_token)``; the token is None on the last page.

        Raises:
            StoreError: page_size outside 1..1000 or a malformed page token.
            ValueError: ``state`` names no submission state.
        """
        records, token = self.store.list(
            tenant=tenant,
            state=SubmissionState(state) if state is not None else None,
            label=label,
            page_size=page_size,
            page_token=page_token,
        )
        return [self._handle(r, tenant=tenant) for r in records], token

    def iter_submissions(
        self,
        *,
        tenant: str | None = None,
        state: SubmissionState | str | None = None,
        label: tuple[str, str] | None = None,
        page_size: int = 100,
    ) -> Iterator[Submission]:
        """Every matching submission, newest first, fetching pages as needed."""
        token: str | None = None
        while True:
            page, token = self.list(
                tenant=tenant, state=state, label=label, page_size=page_size, page_token=token
            )
            yield from page
            if not token:
                return

    def counts_by_state(self) -> dict[SubmissionState, int]:
        """How many submissions are in each state (all tenants; states with none left out)."""
        return self.store.count_by_state()

    # -- cancel ---------------------------------------------------------------------------------

    def cancel(self, submission_id: str, *, tenant: str | None = None) -> Submission:
        """Ask the workers to cancel a submission (like the SDK: not guaranteed, check
        ``state`` later). Cancelling a CANCELLED submission does nothing.

        Raises:
            NotFoundError: no such submission (or not this tenant's).
            StateConflictError: it already finished in another state.
        """
        return self._handle(self._cancel(submission_id, tenant), tenant=tenant)

    def delete(self, submission_id: str, *, tenant: str | None = None) -> SubmissionRecord:
        """Delete a finished submission, as Google deletes a finished job: its record leaves
        the store at once and its Vertex job (if any) is deleted at Google by the workers.

        Returns:
            The record as it was.

        Raises:
            NotFoundError: no such submission (or not this tenant's).
            StateConflictError: it has not finished (cancel it first, or wait).
        """
        if not _ID_RE.fullmatch(submission_id):
            raise NotFoundError(f"submission {submission_id[:64]!r} not found")
        return self.store.delete(submission_id, tenant=tenant)

    # -- internals ------------------------------------------------------------------------------

    def _fetch(self, submission_id: str, tenant: str | None) -> SubmissionRecord:
        if not _ID_RE.fullmatch(submission_id):
            # Never build a Redis key from arbitrary input; not an id, so not found.
            raise NotFoundError(f"submission {submission_id[:64]!r} not found")
        try:
            return self.store.get(submission_id, tenant=tenant)
        except NotFoundError:
            if self.archive is None:
                raise
        # Expired from the store: the archive has it, or says it expired.
        return self.archive.find(submission_id, tenant=tenant)

    def _cancel(self, submission_id: str, tenant: str | None) -> SubmissionRecord:
        record = self._fetch(submission_id, tenant)
        if record.state is SubmissionState.CANCELLED:
            return record
        if record.state.finished:
            raise StateConflictError(submission_id, "an unfinished state", record.state.value)
        self.enqueuer.enqueue_cancel(submission_id)
        return record

    def _handle(
        self, record: SubmissionRecord, *, created: bool = True, tenant: str | None = None
    ) -> Submission:
        return Submission(
            record=record,
            fetch=lambda sid: self._fetch(sid, tenant),
            cancel=lambda sid: self._cancel(sid, tenant),
            created=created,
        )
