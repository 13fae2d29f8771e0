"""The HTTP request of one push delivery, as Google builds it.

Wrapped (the default, or ``pubsub_wrapper``): a JSON body
``{"message": {"attributes", "data" (base64), "messageId", "message_id", "orderingKey",
"publishTime", "publish_time"}, "subscription", "deliveryAttempt"}``; empty attributes, data
and ordering key are left out, ``deliveryAttempt`` is there only with a dead-letter policy.
Unwrapped (``no_wrapper``): the raw data is the body; with ``write_metadata`` the metadata goes
in ``x-goog-pubsub-subscription-name``, ``-message-id``, ``-publish-time`` and
``-ordering-key`` headers and every attribute in a header of its own name. With ``oidc_token``
an ``Authorization: Bearer <JWT>`` header is added (audience: the configured one, else the
endpoint URL).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SUCCESS_CODES", "USER_AGENT", "PushRequest", "build_push_request"]

SUCCESS_CODES = frozenset({102, 200, 201, 202, 204})
"""Answers that acknowledge a pushed message; any other answer (or none) is a nack."""
USER_AGENT = "CloudPubSub-Google"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class PushRequest:
    """What to POST: the endpoint, the headers and the body."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _publish_time(message: Any) -> str:
    return str(message.publish_time.ToJsonString())


def _wrapped(subscription: str, received: Any, with_attempt: bool) -> bytes:
    message = received.message
    body: dict[str, Any] = {}
    if message.attributes:
        body["attributes"] = dict(message.attributes)
    if message.data:
        body["data"] = base64.b64encode(message.data).decode("ascii")
    body["messageId"] = body["message_id"] = message.message_id
    if message.ordering_key:
        body["orderingKey"] = message.ordering_key
    body["publishTime"] = body["publish_time"] = _publish_time(message)
    envelope: dict[str, Any] = {"message": body, "subscription": subscription}
    if with_attempt:
        envelope["deliveryAttempt"] = received.delivery_attempt
    return json.dumps(envelope).encode()


def _header_value(value: str) -> str | None:
    # http.client sends header values as Latin-1 and forbids line breaks.
    if "\r" in value or "\n" in value:
        return None
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return value


def build_push_request(
    subscription: str, push_config: Any, received: Any, *, with_attempt: bool, token: str = ""
) -> PushRequest:
    """The request pushing ``received`` (a ``ReceivedMessage``) per ``push_config``.

    Args:
        subscription: the subscription's full name.
        push_config: the subscription's ``PushConfig``.
        received: the delivery (message, ack id, delivery attempt).
        with_attempt: include ``deliveryAttempt`` (the subscription has a dead-letter policy).
        token: a signed OIDC token for the ``Authorization`` header ('' = none).
    """
    headers = {"User-Agent": USER_AGENT}
    if push_config.HasField("no_wrapper"):
        message = received.message
        body = bytes(message.data)
        headers["Content-Type"] = "application/octet-stream"
        if push_config.no_wrapper.write_metadata:
            for key, value in message.attributes.items():
                checked = _header_value(value)
                if _TOKEN.fullmatch(key) and checked is not None:
                    # An attribute such as Content-Type replaces the default header.
                    for existing in [h for h in headers if h.lower() == key.lower()]:
                        del headers[existing]
                    headers[key] = checked
            headers["x-goog-pubsub-subscription-name"] = subscription
            headers["x-goog-pubsub-message-id"] = message.message_id
            headers["x-goog-pubsub-publish-time"] = _publish_time(message)
            if message.ordering_key and _header_value(message.ordering_key) is not None:
                headers["x-goog-pubsub-ordering-key"] = message.ordering_key
    else:
        body = _wrapped(subscription, received, with_attempt)
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return PushRequest(url=push_config.push_endpoint, body=body, headers=headers)
