"""``submit_many`` on :class:`vbq.producers.Client` (mixed into it): validate every item
first, then store them in pipelined batches (``JobStore.create_many``), reporting refusals
per item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from vbq.errors import IdempotencyConflictError, SpecError, TenantCapError
from vbq.producers.batch import BatchResult, ItemError, ItemResult
from vbq.producers.ports import StorePort
from vbq.producers.preparing import conflicts_within, prepare_submission, sorted_errors
from vbq.settings import Settings
from vbq.store import NewSubmission

__all__ = ["DEFAULT_BATCH_SIZE", "SubmitManyMixin"]

DEFAULT_BATCH_SIZE = 500
"""Items per store pipeline and per broker round trip in :meth:`Client.submit_many`."""

_ITEM_OPTIONS = ("idempotency_key", "tenant", "metadata", "priority", "locations")


class SubmitManyMixin:
    """Adds ``submit_many`` (and ``_prepare``, shared with ``submit``) to the client."""

    settings: Settings
    store: StorePort

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
        """Validate one request into a :class:`NewSubmission` (``submit`` and each item).

        Raises:
            SpecError: a rule was broken (names every field and rule).
        """
        return prepare_submission(
            self.settings,
            sdk_kwargs,
            idempotency_key=idempotency_key,
            tenant=tenant,
            metadata=metadata,
            priority=priority,
            locations=locations,
        )

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
