"""Checking one request before it is stored: the options around the spec, and batch conflicts.

:func:`prepare_submission` is what :meth:`vbq.producers.Client.submit` runs before writing:
the job spec's rules (:meth:`vbq.spec.JobSpec.from_sdk_kwargs`), the project and location it
resolves to, and the vbq options (``idempotency_key``, ``tenant``, ``metadata``, ``priority``,
``locations``),
all reported
in one :class:`~vbq.errors.SpecError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vbq.errors import SpecError
from vbq.places import placed_spec, placement_problems, places_of
from vbq.producers.batch import ItemError
from vbq.producers.tenancy import TENANT_PATTERN
from vbq.scheduler import DEFAULT_PRIORITY, PRIORITIES
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.store import NewSubmission

__all__ = ["conflicts_within", "prepare_submission", "sorted_errors"]


def prepare_submission(
    settings: Settings,
    sdk_kwargs: Mapping[str, Any],
    *,
    idempotency_key: object,
    tenant: object,
    metadata: object,
    priority: object = DEFAULT_PRIORITY,
    locations: object = None,
) -> NewSubmission:
    """The submission to store for one request.

    Raises:
        SpecError: every broken rule of the spec and the options; nothing was written.
    """
    problems: list[dict[str, str]] = []
    if idempotency_key is not None and not isinstance(idempotency_key, str):
        problems.append(_rule("idempotency_key", "type", "must be a string"))
    if not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant):
        problems.append(_rule("tenant", "pattern", f"must match {TENANT_PATTERN.pattern}"))
    if metadata is not None and not isinstance(metadata, Mapping):
        problems.append(_rule("metadata", "type", "must be a JSON object"))
    if priority is None:
        priority = DEFAULT_PRIORITY
    if not isinstance(priority, str) or priority not in PRIORITIES:
        problems.append(_rule("priority", "enum", f"must be one of {', '.join(PRIORITIES)}"))
    if "cls" in sdk_kwargs:
        # Would collide with the classmethod's own parameter (a TypeError, not a SpecError).
        problems.append(_rule("cls", "unknown", "cls is not a parameter of submit()"))
        sdk_kwargs = {k: v for k, v in sdk_kwargs.items() if k != "cls"}
    listed = isinstance(locations, list | tuple)
    places: tuple[str, ...] = tuple(locations) if isinstance(locations, list | tuple) else ()
    if locations is not None and not listed:
        problems.append(_rule("locations", "type", "must be a list of locations"))
    try:
        spec = JobSpec.from_sdk_kwargs(**sdk_kwargs)
        # Resolve the target now so that a missing project fails here, not in a worker (with
        # several locations: in the first one, as the store records it until it is placed).
        where = placed_spec(spec, places[0]) if places and isinstance(places[0], str) else spec
        target = where.target(default_project=settings.project, default_location=settings.location)
    except SpecError as exc:
        raise SpecError([*problems, *exc.errors]) from None
    if listed:
        problems += placement_problems(
            settings,
            locations=places,
            model_name=spec.model_name,
            spec_location=spec.location,
            kms_key=spec.encryption_spec_key_name,
        )
    elif locations is None:
        available = places_of(settings).available_in(spec.model_name)
        if available is not None and target.location not in available:
            message = f"{spec.model_name!r} is not available in {target.location!r}"
            problems.append(
                _rule("location", "model_unavailable", f"{message} (VBQ_MODEL_LOCATIONS)")
            )
    if problems:
        raise SpecError(problems)
    return NewSubmission(
        spec=spec,
        tenant=str(tenant),
        idempotency_key=idempotency_key if isinstance(idempotency_key, str) else None,
        metadata=metadata if isinstance(metadata, Mapping) else None,
        priority=str(priority),
        locations=places,
    )


def _rule(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}


def sorted_errors(errors: list[ItemError]) -> tuple[ItemError, ...]:
    """Item errors by input index."""
    return tuple(sorted(errors, key=lambda e: e.index))


def conflicts_within(prepared: list[tuple[int, NewSubmission]]) -> list[ItemError]:
    """Items reusing an earlier item's idempotency key with a different spec."""
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    out: list[ItemError] = []
    for index, new in prepared:
        if new.idempotency_key is None:
            continue
        key = (new.tenant, new.idempotency_key)
        fingerprint = new.spec.fingerprint()
        first = seen.setdefault(key, (index, fingerprint))
        if first[1] != fingerprint:
            out.append(
                ItemError.single(
                    index,
                    "idempotency_key",
                    "conflict",
                    f"idempotency_key is used by item {first[0]} with a different spec",
                )
            )
    return out
