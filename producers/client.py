"""``Client``: submit batch prediction jobs to vbq with the SDK's own keyword arguments.

``submit()`` validates the request (:meth:`vbq.spec.JobSpec.from_sdk_kwargs`; a bad one raises
:class:`~vbq.errors.SpecError` before anything is written) and stores it in state ACCEPTED,
in its tenant's scheduler queue (one Lua call, :mod:`vbq.scheduler`): once ``submit()``
returned, the request is durable and waiting. The workers' dispatcher sends the ``vbq.submit``
task when the tenant's fair share, the rate and an in-flight slot allow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from vbq.archive import ArchiveLookup
from vbq.errors import (
    IdempotencyConflictError,
    NotFoundError,
    SpecError,
    StateConflictError,
    TenantCapError,
)
from vbq.logs import get_logger
from vbq.producers.batch import BatchResult, ItemError, ItemResult
from vbq.producers.ports import Enqueuer, StorePort, WorkersEnqueuer
from vbq.producers.preparing import conflicts_within, prepare_submission, sorted_errors
from vbq.producers.requests.client import RequestsMixin
from vbq.producers.submission import Submission
from vbq.settings import Settings
from vbq.spec.genai import sdk_kwargs_from_genai, unique_name
from vbq.states import SubmissionState
from vbq.store import JobStore, NewSubmission, SubmissionRecord

__all__ = ["DEFAULT_BATCH_SIZE", "Client"]

DEFAULT_BATCH_SIZE = 500
"""Items per store pipeline and per broker round trip in :meth:`Client.submit_many`."""

_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_ITEM_OPTIONS = ("idempotency_key", "tenant", "metadata", "priority", "locations")

log = get_logger(__name__)


class Client(RequestsMixin):
    """Submit, read, list and cancel submissions; add single Gemini requests
    (:class:`~vbq.producers.requests.RequestsMixin`: ``add_request``, ``add_requests``,
    ``get_request``).

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

    def submit_many(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        atomic: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        tenant: str = "default",
        allow_item_tenant: bool = True,
        on_progress: Callable[[int], None] | None = None,
        priority: str = "default",
        locations: Sequence[str] | None = None,
    ) -> BatchResult:
        """Queue many jobs: validate all, then store and enqueue in pipelined batches.

        Each item is a dict of SDK keyword arguments and may carry ``idempotency_key``,
        ``tenant``, ``metadata``, ``priority`` and ``locations``. An item over its tenant's
        ``max_queued`` cap is an item error (field ``tenant``, rule ``max_queued``), like a
        conflict.

        Args:
            items: the requests, in order (consumed once).
            atomic: if any item is refused, write nothing (idempotency conflicts found among
                the items themselves count; conflicts with stored records are found only while
                writing and are reported per item).
            batch_size: items per store pipeline and per broker round trip (>= 1).
            tenant: tenant of items that do not name one.
            allow_item_tenant: False refuses items that carry a ``tenant`` (HTTP API: the
                API key decides the tenant).
            on_progress: called with the number of items just handled (progress bars).
            priority: priority of items that do not name one.
            locations: acceptable locations of items that do not name theirs (as :meth:`submit`).

        Returns:
            A :class:`BatchResult` with one entry per item, by input index.

        Raises:
            ValueError: ``batch_size`` < 1.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        prepared: list[tuple[int, NewSubmission]] = []
        errors: list[ItemError] = []
        for index, item in enumerate(items):
            outcome = self._prepare_item(
                index, item, tenant, allow_item_tenant, priority, locations=locations
            )
            if isinstance(outcome, ItemError):
                errors.append(outcome)
            else:
                prepared.append((index, outcome))
        errors.extend(conflicts_within(prepared))
        if errors:
            bad = {e.index for e in errors}
            prepared = [(i, n) for i, n in prepared if i not in bad]
            if on_progress is not None:
                on_progress(len(bad))
            if atomic:
                return BatchResult(errors=sorted_errors(errors), atomic=True)
        accepted: list[ItemResult] = []
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start : start + batch_size]
            results = self.store.create_many([n for _, n in chunk], return_exceptions=True)
            for (index, _), result in zip(chunk, results, strict=True):
                if isinstance(result, IdempotencyConflictError):
                    errors.append(
                        ItemError.single(index, "idempotency_key", "conflict", str(result))
                    )
                    continue
                if isinstance(result, TenantCapError):
                    errors.append(ItemError.single(index, "tenant", result.cap, str(result)))
                    continue
                record, created = result
                accepted.append(
                    ItemResult(
                        index=index, submission_id=record.id, created=created, state=record.state
                    )
                )
            if on_progress is not None:
                on_progress(len(chunk))
        return BatchResult(accepted=tuple(accepted), errors=sorted_errors(errors), atomic=atomic)

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

    def _prepare(
        self,
        sdk_kwargs: Mapping[str, Any],
        idempotency_key: object,
        tenant: object,
        metadata: object,
        priority: object = "default",
        *,
        locations: object = None,
    ) -> NewSubmission:
        return prepare_submission(
            self.settings,
            sdk_kwargs,
            idempotency_key=idempotency_key,
            tenant=tenant,
            metadata=metadata,
            priority=priority,
            locations=locations,
        )

    def _prepare_item(
        self,
        index: int,
        item: object,
        tenant: str,
        allow_item_tenant: bool,
        priority: str,
        *,
        locations: Sequence[str] | None = None,
    ) -> NewSubmission | ItemError:
        if not isinstance(item, Mapping):
            return ItemError.single(index, "<item>", "type", "each item must be an object")
        kwargs = dict(item)
        options = {name: kwargs.pop(name, None) for name in _ITEM_OPTIONS}
        if options["tenant"] is not None and not allow_item_tenant:
            return ItemError.single(
                index, "tenant", "forbidden", "the tenant comes from the API key"
            )
        try:
            return self._prepare(
                kwargs,
                options["idempotency_key"],
                options["tenant"] if options["tenant"] is not None else tenant,
                options["metadata"],
                options["priority"] if options["priority"] is not None else priority,
                locations=options["locations"] if options["locations"] is not None else locations,
            )
        except SpecError as exc:
            return ItemError(index=index, errors=tuple(exc.errors))

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
