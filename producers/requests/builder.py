"""Turning what a caller gives into a :class:`vbq.requests.NewRequest` (or a refusal).

Every rule is checked before anything is written: the model (:func:`normalize_model`), the
``GenerateContentRequest`` (:func:`check_request`), the tenant, idempotency key and metadata.
The JSONL line of the packed input is built here: ``{"request": {...}}`` with the routing
labels ``vbq-request`` (the request id) and ``vbq-tenant`` added to the request's ``labels``,
which Google echoes in the output row (the output order is not the input order).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from vbq.errors import SpecError
from vbq.producers.batch import ItemError
from vbq.producers.tenancy import TENANT_PATTERN
from vbq.requests import (
    ROUTE_LABEL,
    TENANT_LABEL,
    NewRequest,
    check_request,
    normalize_model,
    request_id_for,
)
from vbq.settings import Settings

__all__ = ["ITEM_KEYS", "RequestBuilder"]

ITEM_KEYS = frozenset({"model", "request", "idempotency_key", "metadata", "tenant"})
_MAX_KEY_CHARS = 256
_WHERE = re.compile(r"^projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)/")


class RequestBuilder:
    """Validates requests for one client.

    Args:
        settings: default project and location, ``VBQ_REQUEST_MODELS``, pack byte limit.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, tuple[str, str, str]] = {}

    def build(
        self,
        *,
        model: object,
        request: object,
        tenant: object,
        idempotency_key: object = None,
        metadata: object = None,
    ) -> NewRequest:
        """One validated request.

        Raises:
            SpecError: every broken rule, each naming its field.
        """
        errors: list[dict[str, str]] = []
        if not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant):
            errors.append(_err("tenant", "pattern", f"must match {TENANT_PATTERN.pattern}"))
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= _MAX_KEY_CHARS
        ):
            errors.append(_err("idempotency_key", "type", "must be a string of 1..256 characters"))
        metadata_json = _json_object(metadata) if metadata is not None else ""
        if metadata_json is None:
            errors.append(_err("metadata", "type", "must be a JSON object"))
        where: tuple[str, str, str] | None = None
        body: dict[str, Any] | None = None
        for step in ("model", "request"):
            try:
                if step == "model":
                    where = self._model(model)
                else:
                    body = check_request(request)
            except SpecError as exc:
                errors += exc.errors
        if errors or where is None or body is None:
            raise SpecError(errors)
        resource, project, location = where
        tenant_text = str(tenant)
        key = idempotency_key if isinstance(idempotency_key, str) else None
        rid = request_id_for(tenant_text, key)
        canonical = json.dumps(
            {"model": resource, "request": body}, sort_keys=True, separators=(",", ":")
        )
        labels = dict(body.get("labels") or {})
        labels[ROUTE_LABEL] = rid
        labels[TENANT_LABEL] = tenant_text
        try:
            line = json.dumps(
                {"request": {**body, "labels": labels}},
                separators=(",", ":"),
                ensure_ascii=False,
                allow_nan=False,
            ).encode("utf-8")
        except (TypeError, ValueError) as exc:  # NaN, Infinity, lone surrogates
            raise SpecError.single(
                "request", "json", f"request must be plain JSON: {exc}"
            ) from None
        if len(line) + 1 > self.settings.pack_max_bytes:
            raise SpecError.single(
                "request", "size", f"request is {len(line)} bytes, over VBQ_PACK_MAX_BYTES"
            )
        return NewRequest(
            request_id=rid,
            tenant=tenant_text,
            model=resource,
            project=project,
            location=location,
            line=line,
            fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
            idempotency_key=key,
            metadata=dict(metadata) if isinstance(metadata, Mapping) and metadata else None,
            metadata_json=(metadata_json or "") if metadata else "",
        )

    def build_item(self, index: int, item: object, tenant: str) -> NewRequest | ItemError:
        """One item of ``add_requests`` (a dict), or its refusal."""
        if not isinstance(item, Mapping):
            return ItemError.single(index, "<item>", "type", "each item must be an object")
        unknown = sorted(str(k) for k in item if k not in ITEM_KEYS)
        if unknown:
            return ItemError.single(
                index, unknown[0], "unknown", f"unknown field; allowed: {sorted(ITEM_KEYS)}"
            )
        try:
            return self.build(
                model=item.get("model"),
                request=item.get("request"),
                tenant=item.get("tenant", tenant),
                idempotency_key=item.get("idempotency_key"),
                metadata=item.get("metadata"),
            )
        except SpecError as exc:
            return ItemError(index=index, errors=tuple(exc.errors))

    def _model(self, model: object) -> tuple[str, str, str]:
        key = model if isinstance(model, str) else None
        found = self._models.get(key) if key is not None else None
        if found is not None:
            return found
        resource = normalize_model(model, allowed=self.settings.request_models)
        match = _WHERE.match(resource)
        project = match.group("p") if match else self.settings.project
        location = match.group("l") if match else self.settings.location
        if not project:
            raise SpecError.single(
                "model", "project", "no project: set VBQ_PROJECT or use a projects/… model name"
            )
        found = (resource, project, location)
        if key is not None and len(self._models) < 256:
            self._models[key] = found
        return found


def _json_object(value: object) -> str | None:
    """``value`` as compact JSON when it is a JSON object, else None."""
    if not isinstance(value, Mapping):
        return None
    try:
        return json.dumps(dict(value), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def _err(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}
