"""Pub/Sub clients and resources for vbq: build the clients, create topics and subscriptions.

The clients honour ``Settings.pubsub_emulator_host`` exactly like Google's library honours
``PUBSUB_EMULATOR_HOST`` (insecure gRPC channel, no credentials), but from the settings object,
so a test or a CLI option can point one process at several emulators without touching
``os.environ``. Without an emulator host the clients use Application Default Credentials.

:func:`ensure_event_resources` creates, idempotently, what a local setup needs:

- the event schema (``Settings.events_schema``, see :mod:`vbq.pubsub.event_schema`) and the
  events topic (``Settings.events_topic``) validating against it (JSON encoding),
- the dead-letter topic (``Settings.dead_letter_topic``) and a subscription on it,
  ``{dead-letter topic id}-sub``, so dead-lettered messages are kept and can be inspected
  (Pub/Sub drops messages published to a topic without subscriptions),
- the events subscription (``Settings.events_subscription``) with message ordering, a
  dead-letter policy (``max_delivery_attempts`` = 5 → the dead-letter topic), a retry policy
  (exponential backoff 1 s … 60 s between redeliveries of a nacked message) and
  ``retain_acked_messages`` (so ``vbq events replay --since`` can bring events back); a push
  subscription when a push endpoint is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import pubsub_v1
from google.protobuf import duration_pb2
from google.pubsub_v1.types import Encoding

from vbq.errors import PubSubError
from vbq.settings import Settings

__all__ = [
    "DEAD_LETTER_MAX_DELIVERY_ATTEMPTS",
    "TRANSIENT_ERRORS",
    "EventResources",
    "PushTarget",
    "dead_letter_subscription_path",
    "emulator_transport",
    "ensure_event_resources",
    "ensure_subscription",
    "ensure_topic",
    "publish_retry",
    "publisher_client",
    "subscriber_client",
]

DEAD_LETTER_MAX_DELIVERY_ATTEMPTS = 5
"""Deliveries of one message before Pub/Sub moves it to the dead-letter topic."""

_RETRY_MIN_BACKOFF_S = 1
_RETRY_MAX_BACKOFF_S = 60
_ACK_DEADLINE_S = 30

# Same transient codes as Google's default publish retry, but with a short maximum step:
# Google's default (x4 up to 60 s) can leave the relay idle for a minute after an outage ends.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    gexc.Aborted,
    gexc.Cancelled,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.ResourceExhausted,
    gexc.ServiceUnavailable,
    gexc.Unknown,
)


def publish_retry(*, maximum_s: float = 2.0) -> gretry.Retry:
    """Retry for publish RPCs: 0.1 s doubling up to ``maximum_s`` seconds on transient codes.

    With message ordering on, Google's client turns the deadline to "infinite", so a transient
    outage never fails a publish: it waits and retries until Pub/Sub is back.
    """
    return gretry.Retry(
        initial=0.1,
        maximum=maximum_s,
        multiplier=2.0,
        predicate=gretry.if_exception_type(*TRANSIENT_ERRORS),
        deadline=600.0,
    )


# gRPC's default reconnect backoff grows to 120 s; a local emulator that restarts should be
# found again within a couple of seconds.
_EMULATOR_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
]


def emulator_transport(host: str, transport_cls: Any) -> Any:
    """A gRPC transport of ``transport_cls`` on an insecure channel to the emulator ``host``."""
    channel = grpc.insecure_channel(target=host, options=_EMULATOR_CHANNEL_OPTIONS)
    return transport_cls(channel=channel)


def publisher_client(
    settings: Settings,
    *,
    enable_message_ordering: bool = True,
    max_latency_s: float = 0.01,
    max_messages: int = 100,
) -> pubsub_v1.PublisherClient:
    """A ``PublisherClient`` for ``settings`` (emulator or Google).

    Args:
        settings: uses ``pubsub_emulator_host`` when set.
        enable_message_ordering: honour ordering keys (vbq publishes with key = submission id).
        max_latency_s: how long the client batches messages before sending, in seconds.
        max_messages: messages per publish batch.
    """
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

    kwargs: dict[str, Any] = {}
    if settings.pubsub_emulator_host:
        kwargs["transport"] = emulator_transport(
            settings.pubsub_emulator_host, PublisherGrpcTransport
        )
    return pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(
            max_messages=max_messages, max_bytes=1_000_000, max_latency=max_latency_s
        ),
        publisher_options=pubsub_v1.types.PublisherOptions(
            enable_message_ordering=enable_message_ordering, retry=publish_retry()
        ),
        **kwargs,
    )


def subscriber_client(settings: Settings) -> pubsub_v1.SubscriberClient:
    """A ``SubscriberClient`` for ``settings`` (emulator or Google).

    It is :class:`vbq.pubsub.stream.SubscriberClient`: Google's client, except that a
    ``subscribe()`` stream reopened while Pub/Sub is unreachable cannot leave a live stream
    behind that nobody reads (an api-core bug; see that module).
    """
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    from vbq.pubsub.stream import SubscriberClient

    kwargs: dict[str, Any] = {}
    if settings.pubsub_emulator_host:
        kwargs["transport"] = emulator_transport(
            settings.pubsub_emulator_host, SubscriberGrpcTransport
        )
    client: pubsub_v1.SubscriberClient = SubscriberClient(**kwargs)
    return client


def dead_letter_subscription_path(settings: Settings) -> str:
    """``projects/P/subscriptions/{dead-letter topic id}-sub``: where dead letters are kept."""
    topic_path = settings.dead_letter_topic_path()
    project = topic_path.split("/")[1]
    topic_id = topic_path.rsplit("/", 1)[-1]
    return f"projects/{project}/subscriptions/{topic_id}-sub"


def ensure_topic(
    publisher: pubsub_v1.PublisherClient, topic_path: str, *, schema: str = ""
) -> bool:
    """Create ``topic_path`` unless it exists. Returns True when it was created.

    Args:
        schema: a schema path: messages are validated against it (JSON encoding).

    Raises:
        PubSubError: Pub/Sub refused or could not be reached.
    """
    request: dict[str, Any] = {"name": topic_path}
    if schema:
        request["schema_settings"] = {
            "schema": schema,
            "encoding": Encoding.JSON,
        }
    try:
        publisher.create_topic(request=request, timeout=30.0)
    except gexc.AlreadyExists:
        return False
    except gexc.GoogleAPICallError as exc:
        raise PubSubError(f"create topic {topic_path}: {exc}") from exc
    return True


def ensure_subscription(
    subscriber: pubsub_v1.SubscriberClient,
    *,
    subscription_path: str,
    topic_path: str,
    dead_letter_topic_path: str | None = None,
    enable_message_ordering: bool = True,
    ack_deadline_s: int = _ACK_DEADLINE_S,
    retain_acked_messages: bool = False,
    push: PushTarget | None = None,
) -> bool:
    """Create a subscription unless it exists. Returns True when it was created.

    An existing subscription is left as it is, except its push config when ``push`` is given
    (``ModifyPushConfig``), so one command switches it between pull and push.

    Args:
        subscription_path: ``projects/P/subscriptions/S``.
        topic_path: the topic it pulls from.
        dead_letter_topic_path: when given, a dead-letter policy with
            :data:`DEAD_LETTER_MAX_DELIVERY_ATTEMPTS` and a retry policy (1 s … 60 s backoff).
        enable_message_ordering: deliver messages of one ordering key in order.
        ack_deadline_s: initial ack deadline in seconds (the client extends it while handling;
            for push, how long Pub/Sub waits for the endpoint's answer).
        retain_acked_messages: keep acknowledged messages for the retention period (Seek).
        push: deliver by push to this endpoint instead of pull.

    Raises:
        PubSubError: Pub/Sub refused or could not be reached.
    """
    request: dict[str, Any] = {
        "name": subscription_path,
        "topic": topic_path,
        "ack_deadline_seconds": ack_deadline_s,
        "enable_message_ordering": enable_message_ordering,
    }
    if dead_letter_topic_path:
        request["dead_letter_policy"] = {
            "dead_letter_topic": dead_letter_topic_path,
            "max_delivery_attempts": DEAD_LETTER_MAX_DELIVERY_ATTEMPTS,
        }
        request["retry_policy"] = {
            "minimum_backoff": duration_pb2.Duration(seconds=_RETRY_MIN_BACKOFF_S),
            "maximum_backoff": duration_pb2.Duration(seconds=_RETRY_MAX_BACKOFF_S),
        }
    if retain_acked_messages:
        request["retain_acked_messages"] = True
    if push is not None:
        request["push_config"] = push.config()
    try:
        subscriber.create_subscription(request=request, timeout=30.0)
    except gexc.AlreadyExists:
        if push is not None:
            _set_push(subscriber, subscription_path, push)
        return False
    except gexc.GoogleAPICallError as exc:
        raise PubSubError(f"create subscription {subscription_path}: {exc}") from exc
    return True


@dataclass(frozen=True, kw_only=True)
class PushTarget:
    """Where a push subscription delivers, and the OIDC token it attaches.

    Attributes:
        endpoint: the URL Pub/Sub POSTs to (``https://SERVICE.run.app/``).
        service_account: the service account whose token Pub/Sub attaches ('' = no token).
        audience: the token's audience ('' = the endpoint URL, as Pub/Sub defaults).
    """

    endpoint: str
    service_account: str = ""
    audience: str = ""

    def config(self) -> dict[str, Any]:
        """The ``PushConfig`` as a request dict."""
        config: dict[str, Any] = {"push_endpoint": self.endpoint}
        if self.service_account:
            token = {"service_account_email": self.service_account}
            if self.audience:
                token["audience"] = self.audience
            config["oidc_token"] = token
        return config


def _set_push(subscriber: pubsub_v1.SubscriberClient, path: str, push: PushTarget) -> None:
    try:
        current = subscriber.get_subscription(request={"subscription": path}, timeout=30.0)
        if current.push_config.push_endpoint == push.endpoint:
            return
        subscriber.modify_push_config(
            request={"subscription": path, "push_config": push.config()}, timeout=30.0
        )
    except gexc.GoogleAPICallError as exc:
        raise PubSubError(f"push config of {path}: {exc}") from exc


@dataclass(frozen=True, kw_only=True)
class EventResources:
    """Paths of the resources :func:`ensure_event_resources` made sure exist."""

    topic: str
    subscription: str
    dead_letter_topic: str
    dead_letter_subscription: str
    created: tuple[str, ...]
    """The paths that did not exist before the call."""


def ensure_event_resources(
    settings: Settings,
    *,
    subscription: str | None = None,
    with_subscription: bool = True,
    push: PushTarget | None = None,
) -> EventResources:
    """Create the event schema, the events topic, the dead-letter topic (+ its subscription) and
    the events subscription.

    Idempotent: existing resources are left as they are (their policies are not changed).

    Args:
        settings: names, project and emulator host.
        subscription: subscription id or path; default ``settings.events_subscription``.
        with_subscription: False creates only the topics (what the relay needs).
        push: make the events subscription a push subscription to this target.

    Raises:
        PubSubError: Pub/Sub refused or could not be reached.
        ConfigError: no project to build the paths.
    """
    sub_settings = settings.replace(events_subscription=subscription) if subscription else settings
    topic = settings.events_topic_path()
    dl_topic = settings.dead_letter_topic_path()
    dl_sub = dead_letter_subscription_path(settings)
    sub_path = sub_settings.events_subscription_path()
    created: list[str] = []
    from vbq.pubsub.event_schema import ensure_event_schema

    schema = ensure_event_schema(settings)
    publisher = publisher_client(settings, enable_message_ordering=False)
    subscriber = subscriber_client(settings)
    try:
        if ensure_topic(publisher, topic, schema=schema):
            created.append(topic)
        if ensure_topic(publisher, dl_topic):
            created.append(dl_topic)
        if ensure_subscription(
            subscriber,
            subscription_path=dl_sub,
            topic_path=dl_topic,
            enable_message_ordering=False,
        ):
            created.append(dl_sub)
        if with_subscription and ensure_subscription(
            subscriber,
            subscription_path=sub_path,
            topic_path=topic,
            dead_letter_topic_path=dl_topic,
            retain_acked_messages=True,
            push=push,
        ):
            created.append(sub_path)
    finally:
        publisher.stop()
        subscriber.close()
    return EventResources(
        topic=topic,
        subscription=sub_path,
        dead_letter_topic=dl_topic,
        dead_letter_subscription=dl_sub,
        created=tuple(created),
    )
