"""Create the bridge's Pub/Sub resources (``vbq bridge --create``), idempotently.

- the dead-letter topic (``Settings.dead_letter_topic``) and its keeping subscription
  ``{dead-letter topic id}-sub`` (:func:`vbq.pubsub.admin.dead_letter_subscription_path`);
- the request topic and subscription, when given;
- the notification topic and subscription of the rule file, when given.

The pull subscriptions get a dead-letter policy (5 deliveries, then the dead-letter topic) and
a retry policy (1 s … 60 s), without message ordering (requests are independent; ordering would
limit throughput to one outstanding message per key).
"""

from __future__ import annotations

from collections.abc import Sequence

from vbq.pubsub.admin import (
    dead_letter_subscription_path,
    ensure_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)
from vbq.settings import Settings

__all__ = ["ensure_bridge_resources", "subscription_path", "topic_path"]


def topic_path(settings: Settings, topic: str) -> str:
    """``projects/P/topics/T`` for a topic id (a full path is returned as it is).

    Raises:
        ConfigError: no project to build the path.
    """
    return settings.replace(dead_letter_topic=topic).dead_letter_topic_path()


def subscription_path(settings: Settings, subscription: str) -> str:
    """``projects/P/subscriptions/S`` for a subscription id (a full path is kept)."""
    return settings.replace(events_subscription=subscription).events_subscription_path()


def ensure_bridge_resources(
    settings: Settings, pairs: Sequence[tuple[str, str]]
) -> tuple[str, ...]:
    """Create the dead-letter topic (+ subscription) and each ``(topic, subscription)`` pair.

    Args:
        settings: project, dead-letter topic, emulator host.
        pairs: topic and subscription ids (or paths) to create.

    Returns:
        The paths that did not exist before.

    Raises:
        PubSubError: Pub/Sub refused or could not be reached.
        ConfigError: no project to build the paths.
    """
    created: list[str] = []
    dl_topic = settings.dead_letter_topic_path()
    publisher = publisher_client(settings, enable_message_ordering=False)
    subscriber = subscriber_client(settings)
    try:
        if ensure_topic(publisher, dl_topic):
            created.append(dl_topic)
        dl_sub = dead_letter_subscription_path(settings)
        if ensure_subscription(
            subscriber, subscription_path=dl_sub, topic_path=dl_topic, enable_message_ordering=False
        ):
            created.append(dl_sub)
        for topic, subscription in pairs:
            t_path = topic_path(settings, topic)
            s_path = subscription_path(settings, subscription)
            if ensure_topic(publisher, t_path):
                created.append(t_path)
            if ensure_subscription(
                subscriber,
                subscription_path=s_path,
                topic_path=t_path,
                dead_letter_topic_path=dl_topic,
                enable_message_ordering=False,
                ack_deadline_s=60,
            ):
                created.append(s_path)
    finally:
        publisher.stop()
        subscriber.close()
    return tuple(created)
