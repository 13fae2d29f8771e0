"""Job request messages: what a service publishes to the request topic.

The data is the JSON body of the HTTP API's ``POST /v1/submissions`` (the keyword arguments of
``BatchPredictionJob.submit()``) plus the optional ``idempotency_key``, ``tenant`` and
``metadata``::

    {"model_name": "publishers/google/models/gemini-2.0-flash-001",
     "gcs_source": "gs://b/in.jsonl", "gcs_destination_prefix": "gs://b/out",
     "tenant": "analytics", "idempotency_key": "nightly-2024-05-01"}

Without ``idempotency_key`` the key is derived from the Pub/Sub message:
``pubsub:{project}/{topic}#{message_id}``. Pub/Sub keeps a message's id across redeliveries,
so a redelivered message maps to the same submission id and never submits twice. Message ids
are unique only per topic, hence the topic in the key; the store scopes every key by tenant
(``sha256(tenant \\0 key)``), so two tenants never share a submission.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vbq.errors import SpecError

__all__ = ["MAX_KEY_CHARS", "JobRequest", "message_idempotency_key", "parse_request"]

MAX_KEY_CHARS = 256
"""The store's limit on idempotency keys; longer derived keys are shortened with a hash."""

_OPTIONS = ("idempotency_key", "tenant", "metadata")


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    """One job request, ready for :meth:`vbq.producers.Client.submit_many`.

    Attributes:
        sdk_kwargs: keyword arguments of ``BatchPredictionJob.submit()`` (not yet validated).
        idempotency_key: the key (explicit, or derived from the message / object).
        tenant: owner of the submission.
        metadata: JSON object carried into every event of the job, or None.
        priority: ``interactive``, ``default`` or ``bulk``; None = the item's or the default.
    """

    sdk_kwargs: Mapping[str, Any]
    idempotency_key: str
    tenant: str
    metadata: Mapping[str, Any] | None = None
    priority: str | None = None

    def as_item(self) -> dict[str, Any]:
        """The item form ``Client.submit_many`` takes (kwargs plus the options)."""
        item = dict(self.sdk_kwargs)
        item["idempotency_key"] = self.idempotency_key
        item["tenant"] = self.tenant
        if self.metadata is not None:
            item["metadata"] = dict(self.metadata)
        if self.priority is not None:
            item["priority"] = self.priority
        return item


def bounded_key(prefix: str, scope: str, suffix: str) -> str:
    """``prefix + scope + suffix``, with ``scope`` replaced by its sha256 when the whole key
    would exceed :data:`MAX_KEY_CHARS` (object names may be 1,024 bytes long)."""
    key = f"{prefix}{scope}{suffix}"
    if len(key) <= MAX_KEY_CHARS:
        return key
    digest = "sha256:" + hashlib.sha256(scope.encode()).hexdigest()
    return f"{prefix}{digest}{suffix}"[:MAX_KEY_CHARS]


def message_idempotency_key(topic_path: str, message_id: str) -> str:
    """``pubsub:{project}/{topic}#{message_id}`` for a message without an explicit key."""
    scope = topic_path.removeprefix("projects/").replace("/topics/", "/", 1)
    return bounded_key("pubsub:", scope, f"#{message_id}")


def parse_request(
    data: bytes,
    *,
    message_id: str,
    topic_path: str,
    default_tenant: str = "default",
    allow_message_tenant: bool = True,
) -> JobRequest:
    """Read a request message; the spec itself is validated later by the client.

    Args:
        data: the message data (UTF-8 JSON object).
        message_id: Pub/Sub's message id (stable across redeliveries).
        topic_path: the topic it was published to (scopes the derived key).
        default_tenant: tenant of messages that do not name one.
        allow_message_tenant: False refuses messages that name a tenant.

    Raises:
        SpecError: not JSON (field ``data``, rule ``json``), not an object (rule ``type``),
            a non-string ``idempotency_key`` or ``tenant``, or a forbidden ``tenant``.
    """
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SpecError.single("data", "json", f"the message is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise SpecError.single("data", "type", "the message must be a JSON object")
    kwargs = {k: v for k, v in body.items() if k not in _OPTIONS}
    problems: list[dict[str, str]] = []
    key = body.get("idempotency_key")
    if key is not None and not isinstance(key, str):
        problems.append(_rule("idempotency_key", "type", "must be a string"))
    tenant = body.get("tenant")
    if tenant is not None and not allow_message_tenant:
        problems.append(_rule("tenant", "forbidden", "this bridge sets the tenant"))
    elif tenant is not None and not isinstance(tenant, str):
        problems.append(_rule("tenant", "type", "must be a string"))
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        problems.append(_rule("metadata", "type", "must be a JSON object"))
    if problems:
        raise SpecError(problems)
    return JobRequest(
        sdk_kwargs=kwargs,
        idempotency_key=key
        if isinstance(key, str)
        else message_idempotency_key(topic_path, message_id),
        tenant=tenant if isinstance(tenant, str) else default_tenant,
        metadata=metadata,
    )


def _rule(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}
