"""Resource names and subscription settings: validation, Google's defaults, update masks."""

from __future__ import annotations

import re
from typing import Any

from google.pubsub_v1 import types

from vbq_emulators.pubsub.filters import parse_filter
from vbq_emulators.pubsub.policy import DeliveryPolicy
from vbq_emulators.pubsub.status import StatusError

__all__ = [
    "DELETED_TOPIC",
    "SubscriptionPb",
    "TopicPb",
    "apply_subscription_update",
    "delivery_policy",
    "normalize_subscription",
    "page",
    "seconds",
    "validate_name",
]

TopicPb: Any = types.Topic.pb()
SubscriptionPb: Any = types.Subscription.pb()

DELETED_TOPIC = "_deleted-topic_"
"""What a subscription's ``topic`` reads after its topic was deleted (as on Google)."""

DEFAULT_ACK_DEADLINE_S = 10
MIN_ACK_DEADLINE_S, MAX_ACK_DEADLINE_S = 10, 600
DEFAULT_RETENTION_S = 7 * 24 * 3600
MIN_RETENTION_S, MAX_RETENTION_S = 600, 31 * 24 * 3600
DEFAULT_MIN_BACKOFF_S, DEFAULT_MAX_BACKOFF_S = 10.0, 600.0
DEFAULT_DELIVERY_ATTEMPTS = 5
MIN_DELIVERY_ATTEMPTS, MAX_DELIVERY_ATTEMPTS = 5, 100

_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")
_NAME = re.compile(
    r"projects/(?P<project>[^/]+)/(?P<kind>topics|subscriptions|snapshots|schemas)/(?P<id>[^/]+)"
)

# Fields UpdateSubscription may change; Google refuses the rest (filter, ordering, topic).
_UPDATABLE = {
    "ack_deadline_seconds",
    "dead_letter_policy",
    "retry_policy",
    "labels",
    "message_retention_duration",
    "retain_acked_messages",
    "expiration_policy",
    "push_config",
    "enable_exactly_once_delivery",
    "detached",
}


MAX_PAGE_SIZE = 1000


def page(names: list[str], page_size: int, page_token: str) -> tuple[list[str], str]:
    """One page of ``names`` in name order, and the next page token ('' at the end).

    The token is the last name of the previous page: stable under concurrent creates.
    """
    size = MAX_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
    names = sorted(n for n in names if n > page_token) if page_token else sorted(names)
    chunk = names[:size]
    return chunk, (chunk[-1] if len(names) > size else "")


def validate_name(name: str, kind: str) -> str:
    """Check ``projects/P/{kind}/ID`` and return the project.

    Raises:
        StatusError: ``INVALID_ARGUMENT`` for a malformed name or id.
    """
    match = _NAME.fullmatch(name)
    if match is None or match.group("kind") != kind:
        raise StatusError.invalid_argument(f"Invalid resource name given (name={name}).")
    resource_id = match.group("id")
    if not _ID.fullmatch(resource_id) or resource_id.lower().startswith("goog"):
        raise StatusError.invalid_argument(f"Invalid resource name given (name={name}).")
    return match.group("project")


def seconds(duration: Any) -> float:
    """A ``google.protobuf.Duration`` in seconds."""
    return _seconds(duration)


def _seconds(duration: Any) -> float:
    return float(duration.seconds) + float(duration.nanos) / 1e9


def _check_subscription(sub: Any) -> None:
    if not MIN_ACK_DEADLINE_S <= sub.ack_deadline_seconds <= MAX_ACK_DEADLINE_S:
        raise StatusError.invalid_argument(
            f"Invalid ack_deadline_seconds: {sub.ack_deadline_seconds} "
            f"(must be between {MIN_ACK_DEADLINE_S} and {MAX_ACK_DEADLINE_S})."
        )
    retention = _seconds(sub.message_retention_duration)
    if not MIN_RETENTION_S <= retention <= MAX_RETENTION_S:
        raise StatusError.invalid_argument(
            f"Invalid message_retention_duration: {retention}s "
            f"(must be between {MIN_RETENTION_S}s and {MAX_RETENTION_S}s)."
        )
    if sub.HasField("dead_letter_policy"):
        attempts = sub.dead_letter_policy.max_delivery_attempts
        if not MIN_DELIVERY_ATTEMPTS <= attempts <= MAX_DELIVERY_ATTEMPTS:
            raise StatusError.invalid_argument(
                f"Invalid max_delivery_attempts: {attempts} "
                f"(must be between {MIN_DELIVERY_ATTEMPTS} and {MAX_DELIVERY_ATTEMPTS})."
            )
        validate_name(sub.dead_letter_policy.dead_letter_topic, "topics")
    check_push_config(sub.push_config)
    if sub.HasField("retry_policy"):
        low = _seconds(sub.retry_policy.minimum_backoff)
        high = _seconds(sub.retry_policy.maximum_backoff)
        if not 0 <= low <= high <= DEFAULT_MAX_BACKOFF_S:
            raise StatusError.invalid_argument(
                f"Invalid retry_policy: minimum_backoff {low}s, maximum_backoff {high}s "
                f"(need 0 <= minimum <= maximum <= {DEFAULT_MAX_BACKOFF_S}s)."
            )


def check_push_config(push: Any) -> None:
    """Refuse a push config Google would refuse.

    Raises:
        StatusError: ``INVALID_ARGUMENT`` for an endpoint that is not an http(s) URL, or
            authentication or a wrapper without an endpoint.
    """
    endpoint = push.push_endpoint
    if not endpoint:
        if push.HasField("oidc_token") or push.HasField("no_wrapper"):
            raise StatusError.invalid_argument(
                "Invalid push_config: oidc_token and no_wrapper need a push_endpoint."
            )
        return
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", endpoint):
        raise StatusError.invalid_argument(
            f"Invalid push_config.push_endpoint: {endpoint!r} (an http or https URL)."
        )


def _fill_defaults(sub: Any) -> None:
    if sub.ack_deadline_seconds == 0:
        sub.ack_deadline_seconds = DEFAULT_ACK_DEADLINE_S
    if not sub.HasField("message_retention_duration"):
        sub.message_retention_duration.seconds = DEFAULT_RETENTION_S
    if sub.HasField("dead_letter_policy"):
        if not sub.dead_letter_policy.dead_letter_topic:
            sub.ClearField("dead_letter_policy")
        elif sub.dead_letter_policy.max_delivery_attempts == 0:
            sub.dead_letter_policy.max_delivery_attempts = DEFAULT_DELIVERY_ATTEMPTS
    if sub.HasField("retry_policy"):
        policy = sub.retry_policy
        if not policy.HasField("minimum_backoff"):
            policy.minimum_backoff.seconds = int(DEFAULT_MIN_BACKOFF_S)
        if not policy.HasField("maximum_backoff"):
            policy.maximum_backoff.seconds = int(DEFAULT_MAX_BACKOFF_S)
    endpoint = sub.push_config.push_endpoint
    if endpoint and "x-goog-version" not in sub.push_config.attributes:
        # GetSubscription "always returns a valid version" for a push subscription.
        sub.push_config.attributes["x-goog-version"] = "v1"
    sub.state = SubscriptionPb.State.ACTIVE


def normalize_subscription(sub: Any) -> Any:
    """A copy of a CreateSubscription request body with Google's defaults filled in.

    Raises:
        StatusError: ``INVALID_ARGUMENT`` for a bad name, range or filter.
    """
    validate_name(sub.name, "subscriptions")
    validate_name(sub.topic, "topics")
    out = SubscriptionPb()
    out.CopyFrom(sub)
    _fill_defaults(out)
    _check_subscription(out)
    parse_filter(out.filter)
    return out


def apply_subscription_update(current: Any, update: Any, paths: list[str]) -> Any:
    """The subscription after an UpdateSubscription with ``paths`` as the field mask.

    Raises:
        StatusError: ``INVALID_ARGUMENT`` for an empty mask, an immutable or unknown field,
            or a value out of range.
    """
    if not paths:
        raise StatusError.invalid_argument("The update_mask must not be empty.")
    out = SubscriptionPb()
    out.CopyFrom(current)
    for path in paths:
        top = path.split(".", 1)[0]
        if top not in _UPDATABLE:
            raise StatusError.invalid_argument(f"Invalid update_mask provided: {path!r}.")
        if out.DESCRIPTOR.fields_by_name[top].message_type is not None and top != "labels":
            if update.HasField(top):
                getattr(out, top).CopyFrom(getattr(update, top))
            else:
                out.ClearField(top)
        elif top == "labels":
            out.labels.clear()
            out.labels.update(update.labels)
        else:
            setattr(out, top, getattr(update, top))
    _fill_defaults(out)
    _check_subscription(out)
    return out


def delivery_policy(sub: Any, *, topic_retention_s: float = 0.0) -> DeliveryPolicy:
    """The queue settings a normalized subscription asks for.

    A topic's ``message_retention_duration`` (``topic_retention_s``) keeps messages available
    to its subscriptions for at least that long, whatever their own retention.
    """
    retry_min = retry_max = 0.0
    if sub.HasField("retry_policy"):
        retry_min = _seconds(sub.retry_policy.minimum_backoff)
        retry_max = max(_seconds(sub.retry_policy.maximum_backoff), retry_min)
    attempts = (
        sub.dead_letter_policy.max_delivery_attempts if sub.HasField("dead_letter_policy") else 0
    )
    return DeliveryPolicy(
        retry_min_backoff_s=retry_min,
        retry_max_backoff_s=retry_max,
        max_delivery_attempts=attempts,
        retention_s=max(_seconds(sub.message_retention_duration), topic_retention_s),
        ordered=sub.enable_message_ordering,
        retain_acked=sub.retain_acked_messages,
    )
