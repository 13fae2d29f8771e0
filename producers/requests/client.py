"""Request-level submission on :class:`vbq.producers.Client` (mixed into it).

``add_request`` / ``add_requests`` validate everything first, then store the requests with
their pack assignment (``vbq.requests.RequestStore.add_many``: pipelined Lua, no broker
message per request); a pack that filled is flushed at once (one ``vbq.pack.flush`` message
per pack), the others by beat when their oldest request has waited ``VBQ_PACK_MAX_WAIT_S``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from vbq.errors import ConfigError, IdempotencyConflictError, NotFoundError, SpecError
from vbq.logs import get_logger
from vbq.producers.batch import ItemError
from vbq.producers.requests.builder import RequestBuilder
from vbq.producers.requests.handle import RequestHandle, RequestView
from vbq.requests import AddResult, NewRequest, RequestRecord, RequestStore
from vbq.settings import Settings
from vbq.store.keys import sub_key

__all__ = ["RequestBatch", "RequestsMixin"]

log = get_logger(__name__)
_ID_LEN = 32


@dataclass(frozen=True)
class RequestBatch:
    """What :meth:`RequestsMixin.add_requests` did: accepted items by input index, refusals.

    Attributes:
        accepted: ``(index, AddResult)`` per stored item (``request_id``, ``created``).
        errors: one :class:`ItemError` per refused item (naming every field).
        atomic: whether the call was atomic (then nothing was stored if any was refused).
        sealed_packs: packs that filled up during the call (their flush was sent).
    """

    accepted: tuple[tuple[int, AddResult], ...] = ()
    errors: tuple[ItemError, ...] = ()
    atomic: bool = False
    sealed_packs: tuple[str, ...] = field(default=())
    make_handle: Callable[[AddResult], RequestHandle] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when every item was accepted."""
        return not self.errors

    @property
    def request_ids(self) -> list[str]:
        """Ids of the accepted items, in input order."""
        return [r.request_id for _, r in self.accepted]

    @cached_property
    def handles(self) -> tuple[tuple[int, RequestHandle], ...]:
        """``(index, RequestHandle)`` per accepted item (built on first use)."""
        assert self.make_handle is not None
        return tuple((i, self.make_handle(r)) for i, r in self.accepted)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the HTTP API's batch answer)."""
        return {
            "accepted": [
                {"index": i, "request_id": r.request_id, "created": r.created}
                for i, r in self.accepted
            ],
            "errors": [e.to_dict() for e in self.errors],
            "atomic": self.atomic,
        }


class RequestsMixin:
    """Adds ``add_request``, ``add_requests`` and ``get_request`` to the client."""

    settings: Settings

    def _requests(self) -> tuple[RequestStore, RequestBuilder]:
        found = getattr(self, "_request_parts", None)
        if found is None:
            redis = getattr(getattr(self, "store", None), "redis", None)
            store = (
                RequestStore(redis, settings=self.settings)
                if redis is not None
                else RequestStore.from_settings(self.settings)
            )
            found = (store, RequestBuilder(self.settings))
            self._request_parts = found
        return found

    def add_request(
        self,
        *,
        model: str,
        request: Mapping[str, Any],
        tenant: str = "default",
        idempotency_key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> RequestHandle:
        """Queue one Gemini request; it is packed with others into one batch job.

        Args:
            model: ``gemini-…``, ``publishers/google/models/gemini-…`` or a tuned model.
            request: a ``GenerateContentRequest`` as REST JSON (``contents``, ...).
            tenant: owner of the request.
            idempotency_key: the same key (per tenant) always returns the same request.
            metadata: JSON object kept with the request.

        Returns:
            The :class:`RequestHandle` (``created`` False for an idempotent replay).

        Raises:
            SpecError: a rule was broken (names every field); nothing was written.
            IdempotencyConflictError: the key is bound to another request.
            ConfigError: ``VBQ_PACK_PREFIX`` is not set.
        """
        self._need_prefix()
        store, builder = self._requests()
        new = builder.build(
            model=model,
            request=request,
            tenant=tenant,
            idempotency_key=idempotency_key,
            metadata=metadata,
        )
        (result,) = store.add_many([new])
        if isinstance(result, IdempotencyConflictError):
            raise result
        self._flush(result.sealed)
        return self._request_handle(result.record, created=result.created, tenant=tenant)

    def add_requests(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        tenant: str = "default",
        atomic: bool = False,
        allow_item_tenant: bool = True,
        on_progress: Callable[[int], None] | None = None,
    ) -> RequestBatch:
        """Queue many requests: each item is ``{model, request, idempotency_key?, metadata?,
        tenant?}``; all are validated first, then stored pipelined.

        Args:
            tenant: tenant of items that name none.
            atomic: if any item is refused, store none.
            allow_item_tenant: False refuses items that carry a ``tenant`` (HTTP API).
            on_progress: called with the number of items just handled.

        Raises:
            ConfigError: ``VBQ_PACK_PREFIX`` is not set.
        """
        self._need_prefix()
        store, builder = self._requests()
        prepared: list[tuple[int, NewRequest]] = []
        errors: list[ItemError] = []
        for index, item in enumerate(items):
            if not allow_item_tenant and isinstance(item, Mapping) and "tenant" in item:
                errors.append(
                    ItemError.single(index, "tenant", "forbidden", "the API key sets the tenant")
                )
                continue
            built = builder.build_item(index, item, tenant)
            if isinstance(built, ItemError):
                errors.append(built)
            else:
                prepared.append((index, built))
        if errors and atomic:
            return RequestBatch(errors=tuple(errors), atomic=True)
        results = store.add_many([n for _, n in prepared]) if prepared else []
        accepted: list[tuple[int, AddResult]] = []
        sealed: list[str] = []
        for (index, _), result in zip(prepared, results, strict=True):
            if isinstance(result, IdempotencyConflictError):
                errors.append(ItemError.single(index, "idempotency_key", "conflict", str(result)))
                continue
            sealed += result.sealed
            accepted.append((index, result))
        if on_progress is not None:
            on_progress(len(prepared) + len(errors))
        self._flush(sealed)
        return RequestBatch(
            accepted=tuple(accepted),
            errors=tuple(sorted(errors, key=lambda e: e.index)),
            atomic=atomic,
            sealed_packs=tuple(dict.fromkeys(sealed)),
            make_handle=lambda r: self._request_handle(r.record, created=r.created),
        )

    def get_request(self, request_id: str, *, tenant: str | None = None) -> RequestHandle:
        """The request ``request_id``.

        Raises:
            NotFoundError: no such request (or another tenant's, or expired).
        """
        view = self._request_view(request_id, tenant)
        return self._request_handle(view.record, tenant=tenant, view=view)

    # -- internals ------------------------------------------------------------------------------

    def _need_prefix(self) -> None:
        if not self.settings.pack_prefix:
            raise ConfigError("VBQ_PACK_PREFIX (a gs:// prefix for packed inputs) is not set")

    def _flush(self, pack_ids: Sequence[str]) -> None:
        send = getattr(getattr(self, "enqueuer", None), "enqueue_pack_flush", None)
        if not pack_ids or send is None:
            return
        try:
            send(list(dict.fromkeys(pack_ids)))
        except Exception as exc:
            # The packs are sealed in Redis: beat's pack tick flushes them anyway.
            log.warning("pack flush enqueue failed; beat will flush", error=repr(exc))

    def _request_view(self, request_id: str, tenant: str | None) -> RequestView:
        if len(request_id) != _ID_LEN or not all(c in "0123456789abcdef" for c in request_id):
            raise NotFoundError(f"request {request_id[:64]!r} not found")
        store, _ = self._requests()
        record = store.get(request_id, tenant=tenant)
        return self._request_full_view(record)

    def _request_full_view(self, record: RequestRecord) -> RequestView:
        store, _ = self._requests()
        pack = store.get_pack(record.pack_id) if record.pack_id else None
        job_name = None
        if pack is not None and pack.submission_id:
            value = store.redis.hget(sub_key(pack.submission_id), "job_name")
            job_name = (value.decode() if isinstance(value, bytes) else value) or None
        return RequestView(record=record, pack=pack, job_name=job_name)

    def _request_handle(
        self,
        record: RequestRecord,
        *,
        created: bool = True,
        tenant: str | None = None,
        view: RequestView | None = None,
    ) -> RequestHandle:
        # A fresh request's pack is not read here (no round trip per added request): its
        # state is PENDING until the handle refreshes.
        return RequestHandle(
            view=view or RequestView(record=record, pack=None, job_name=None),
            fetch=lambda rid: self._request_view(rid, tenant),
            read_row=_read_row,
            created=created,
        )


def _read_row(uri: str, offset: int, length: int) -> bytes:
    from vbq.storage import read_range

    return read_range(uri, offset, length)


def spec_error_of(errors: Sequence[ItemError]) -> SpecError:
    """One :class:`SpecError` for many refused items (fields prefixed ``items[i].``)."""
    return SpecError(
        [{**e, "field": f"items[{err.index}].{e['field']}"} for err in errors for e in err.errors]
    )
