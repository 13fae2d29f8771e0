"""Creating submissions: the arguments of ``create.lua`` and the record its reply stands for."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vbq.errors import IdempotencyConflictError, StoreError, TenantCapError
from vbq.places import placed_spec
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.spec.model import DEFAULT_DISPLAY_NAME_PREFIX
from vbq.states import SubmissionState
from vbq.store.keys import PREFIX, idem_key, sub_key
from vbq.store.records import (
    NewSubmission,
    SpecLoader,
    SubmissionRecord,
    decode_record,
    flat_pairs,
    submission_id_for,
)

__all__ = ["CreateCall", "Creator"]

_RESOLVE_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class CreateCall:
    """One prepared ``create.lua`` call and what the store needs to read its reply."""

    item: NewSubmission
    submission_id: str
    keys: list[str]
    args: list[str]
    project: str
    location: str
    model: str
    labels: dict[str, str]


class Creator:
    """Prepares create calls and turns replies into ``(record, created)``.

    Args:
        settings: default project and location for specs that name none.
        spec_loader: parses a stored spec (for the "exists" reply).
    """

    def __init__(self, *, settings: Settings, spec_loader: SpecLoader) -> None:
        self.settings = settings
        self.spec_loader = spec_loader
        self.policy = settings.tenant_policy()
        self._targets: dict[tuple[str | None, ...], tuple[str, str, str]] = {}

    def target(self, spec: JobSpec) -> tuple[str, str, str]:
        """(project, location, model) of ``spec``.

        Cached: these three depend only on the fields in the cache key.

        Raises:
            SpecError: no project or location can be found for the spec.
        """
        key = (spec.model_name, spec.project, spec.location, spec.encryption_spec_key_name)
        found = self._targets.get(key)
        if found is None:
            where = spec.target(
                default_project=self.settings.project, default_location=self.settings.location
            )
            if len(self._targets) >= _RESOLVE_CACHE_SIZE:
                self._targets.clear()
            found = self._targets[key] = (where.project, where.location, where.model)
        return found

    def prepare(self, item: NewSubmission) -> CreateCall:
        """The keys and arguments of ``create.lua`` for ``item`` (layout: see the script).

        Raises:
            SpecError: the spec cannot be resolved.
        """
        spec = item.spec
        # Several locations: the first one until the dispatcher places it (create.lua queues
        # it at every one; docs/contracts.md § Placement).
        where = placed_spec(spec, item.locations[0]) if item.locations else spec
        project, location, model = self.target(where)
        sid = submission_id_for(item.tenant, item.idempotency_key)
        keys = [sub_key(sid)]
        if item.idempotency_key is not None:
            keys.append(idem_key(item.tenant, item.idempotency_key))
        spec_json = spec.to_json()
        # The contract's fingerprint (sha256 of the canonical JSON), without serialising the
        # spec a second time.
        fingerprint = hashlib.sha256(spec_json.encode("utf-8")).hexdigest()
        labels = dict(spec.labels or {})
        label_suffixes = [f"{k}:{v}" for k, v in sorted(labels.items())]
        fields = [
            "spec",
            spec_json,
            "labels",
            json.dumps(labels, separators=(",", ":"), sort_keys=True),
            "metadata",
            json.dumps(dict(item.metadata or {}), separators=(",", ":")),
            "idempotency_key",
            item.idempotency_key or "",
            "project",
            project,
            "location",
            location,
            "model",
            model,
            # What the job will be called at Google (the body's default when the spec names
            # none): the console lists and searches it without parsing the spec.
            "display_name",
            spec.job_display_name or f"{DEFAULT_DISPLAY_NAME_PREFIX} {fingerprint[:16]}",
            "priority",
            item.priority,
        ]
        if item.locations:
            fields += ["locations", ",".join(item.locations)]
        args = [
            sid,
            fingerprint,
            item.tenant,
            PREFIX,
            str(self.policy.limits(item.tenant).max_queued),
            str(len(label_suffixes)),
            *label_suffixes,
            *fields,
        ]
        return CreateCall(
            item=item,
            submission_id=sid,
            keys=keys,
            args=args,
            project=project,
            location=location,
            model=model,
            labels=labels,
        )

    def run_chunked(
        self,
        batch: Sequence[NewSubmission],
        run: Callable[[Sequence[CreateCall]], list[Any]],
        *,
        chunk: int,
    ) -> tuple[list[CreateCall], list[Any]]:
        """Prepare and run ``batch`` ``chunk`` calls at a time: ``(calls, replies)`` in order.

        Above one chunk, the next chunk is prepared while Redis runs the previous one.

        Raises:
            SpecError: an item's spec cannot be resolved (nothing after it was run).
        """
        if len(batch) <= chunk:
            calls = [self.prepare(item) for item in batch]
            return calls, run(calls)
        calls, replies = [], []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vbq-store") as pool:
            running: Future[list[Any]] | None = None
            for start in range(0, len(batch), chunk):
                part = [self.prepare(item) for item in batch[start : start + chunk]]
                calls.extend(part)
                if running is not None:
                    replies.extend(running.result())
                running = pool.submit(run, part)
            if running is not None:
                replies.extend(running.result())
        return calls, replies

    def result(self, call: CreateCall, reply: Any) -> tuple[SubmissionRecord, bool]:
        """Read the script's reply.

        Raises:
            IdempotencyConflictError: the key is bound to a submission with another spec.
            StoreError: an unexpected reply.
        """
        status = _text(reply[0])
        if status == "created":
            now = float(_text(reply[1]))
            item = call.item
            rec = SubmissionRecord(
                id=call.submission_id,
                state=SubmissionState.ACCEPTED,
                spec=item.spec,
                tenant=item.tenant,
                labels=dict(call.labels),
                metadata=dict(item.metadata or {}),
                idempotency_key=item.idempotency_key,
                project=call.project,
                location=call.location,
                model=call.model or None,
                priority=item.priority,
                locations=item.locations,
                created_at=now,
                updated_at=now,
            )
            return rec, True
        if status == "exists":
            return decode_record(flat_pairs(reply[1]), spec_loader=self.spec_loader), False
        if status == "conflict":
            raise IdempotencyConflictError(call.item.idempotency_key or "", _text(reply[1]))
        if status == "cap":
            raise self._cap_error(call, _text(reply[1]), int(_text(reply[2])))
        raise StoreError(f"unexpected create reply {reply!r}")

    def _cap_error(self, call: CreateCall, cap: str, current: int) -> TenantCapError:
        """The refusal of a cap: ``retry_after_s`` guesses when one queued place frees."""
        limit = self.policy.limits(call.item.tenant).max_queued
        rate_per_s = self.settings.create_rate_per_min / 60.0
        over = max(1, current - limit + 1)
        return TenantCapError(
            tenant=call.item.tenant,
            cap=cap,
            limit=limit,
            retry_after_s=float(max(1, math.ceil(over / max(rate_per_s, 1e-6)))),
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
