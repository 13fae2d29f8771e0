"""Topic and subscription management (Create/Get/List/Update/Delete) on the broker's state."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from vbq_emulators.pubsub import config
from vbq_emulators.pubsub.config import TopicPb
from vbq_emulators.pubsub.filters import parse_filter
from vbq_emulators.pubsub.queue import SubscriptionQueue
from vbq_emulators.pubsub.state import BrokerState, SubscriptionRecord, b64
from vbq_emulators.pubsub.status import StatusError

__all__ = ["ResourceOps"]

MAX_PAGE_SIZE = 1000


def _page(names: list[str], page_size: int, page_token: str) -> tuple[list[str], str]:
    # The page token is the last name of the previous page: stable under concurrent creates.
    size = MAX_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
    names = sorted(n for n in names if n > page_token) if page_token else sorted(names)
    chunk = names[:size]
    return chunk, (chunk[-1] if len(names) > size else "")


class ResourceOps(BrokerState):
    """Topics and subscriptions: the admin half of Publisher and Subscriber."""

    # -- topics ---------------------------------------------------------------------------

    def create_topic(self, topic: Any) -> Any:
        """Create a topic; returns it.

        Raises:
            StatusError: INVALID_ARGUMENT (bad name), ALREADY_EXISTS.
        """
        config.validate_name(topic.name, "topics")
        with self._lock:
            if topic.name in self._topics:
                raise StatusError.already_exists(f"topic={topic.name}")
            stored = TopicPb()
            stored.CopyFrom(topic)
            self._add_topic(stored)
            self._write({"op": "topic", "pb": b64(stored.SerializeToString())})
            self._flush()
            return stored

    def _add_topic(self, topic: Any) -> None:
        self._topics[topic.name] = topic
        self._topic_subs.setdefault(topic.name, set())

    def get_topic(self, name: str) -> Any:
        """The topic called ``name``. Raises: StatusError NOT_FOUND."""
        with self._lock:
            topic = self._topics.get(name)
            if topic is None:
                raise StatusError.not_found(f"topic={name}")
            return topic

    def list_topics(
        self, project: str, *, page_size: int, page_token: str
    ) -> tuple[list[Any], str]:
        """Topics of ``projects/P``, sorted by name, and the next page token ('' at the end)."""
        with self._lock:
            prefix = f"{project}/topics/"
            names, token = _page(
                [n for n in self._topics if n.startswith(prefix)], page_size, page_token
            )
            return [self._topics[n] for n in names], token

    def delete_topic(self, name: str) -> None:
        """Delete a topic; its subscriptions stay, detached. Raises: StatusError NOT_FOUND."""
        with self._lock:
            if name not in self._topics:
                raise StatusError.not_found(f"topic={name}")
            self._remove_topic(name)
            self._write({"op": "deltopic", "name": name})
            self._flush()

    def _remove_topic(self, name: str) -> None:
        self._topics.pop(name, None)
        for sub_name in self._topic_subs.pop(name, set()):
            sub = self._subs.get(sub_name)
            if sub is not None:
                sub.config.topic = config.DELETED_TOPIC

    def list_topic_subscriptions(
        self, topic: str, *, page_size: int, page_token: str
    ) -> tuple[list[str], str]:
        """Names of the subscriptions attached to ``topic``. Raises: StatusError NOT_FOUND."""
        with self._lock:
            if topic not in self._topics:
                raise StatusError.not_found(f"topic={topic}")
            return _page(list(self._topic_subs[topic]), page_size, page_token)

    # -- subscriptions --------------------------------------------------------------------

    def create_subscription(self, request: Any) -> Any:
        """Create a subscription (defaults filled in as Google does); returns it.

        Raises:
            StatusError: INVALID_ARGUMENT (name, ranges, filter), NOT_FOUND (topic or
                dead-letter topic), ALREADY_EXISTS.
        """
        sub_pb = config.normalize_subscription(request)
        with self._lock:
            if sub_pb.name in self._subs:
                raise StatusError.already_exists(f"subscription={sub_pb.name}")
            if sub_pb.topic not in self._topics:
                raise StatusError.not_found(f"topic={sub_pb.topic}")
            self._check_dead_letter_topic(sub_pb)
            self._add_subscription(sub_pb)
            self._write({"op": "sub", "pb": b64(sub_pb.SerializeToString())})
            self._flush()
            return sub_pb

    def _check_dead_letter_topic(self, sub_pb: Any) -> None:
        if sub_pb.HasField("dead_letter_policy"):
            dlt = sub_pb.dead_letter_policy.dead_letter_topic
            if dlt not in self._topics:
                raise StatusError.not_found(f"dead_letter_topic={dlt}")

    def _add_subscription(self, sub_pb: Any) -> None:
        existing = self._subs.get(sub_pb.name)
        if existing is not None:
            existing.config = sub_pb
            existing.queue.policy = config.delivery_policy(sub_pb)
            existing.cond.notify_all()
            return
        self._subs[sub_pb.name] = SubscriptionRecord(
            name=sub_pb.name,
            config=sub_pb,
            filter=parse_filter(sub_pb.filter),
            queue=SubscriptionQueue(epoch=self._epoch, policy=config.delivery_policy(sub_pb)),
            cond=threading.Condition(self._lock),
        )
        self._topic_subs.setdefault(sub_pb.topic, set()).add(sub_pb.name)

    def get_subscription(self, name: str) -> Any:
        """The subscription called ``name``. Raises: StatusError NOT_FOUND."""
        with self._lock:
            return self._sub(name).config

    def list_subscriptions(
        self, project: str, *, page_size: int, page_token: str
    ) -> tuple[list[Any], str]:
        """Subscriptions of ``projects/P``, sorted by name, and the next page token."""
        with self._lock:
            prefix = f"{project}/subscriptions/"
            names, token = _page(
                [n for n in self._subs if n.startswith(prefix)], page_size, page_token
            )
            return [self._subs[n].config for n in names], token

    def update_subscription(self, update: Any, paths: Sequence[str]) -> Any:
        """Apply an UpdateSubscription; returns the new subscription.

        Raises:
            StatusError: NOT_FOUND, INVALID_ARGUMENT (immutable field such as ``filter``,
                empty mask, value out of range).
        """
        with self._lock:
            sub = self._sub(update.name)
            new_pb = config.apply_subscription_update(sub.config, update, list(paths))
            self._check_dead_letter_topic(new_pb)
            self._add_subscription(new_pb)
            self._write({"op": "sub", "pb": b64(new_pb.SerializeToString())})
            self._flush()
            return new_pb

    def delete_subscription(self, name: str) -> None:
        """Delete a subscription and its messages. Raises: StatusError NOT_FOUND."""
        with self._lock:
            self._sub(name)
            self._remove_subscription(name)
            self._write({"op": "delsub", "name": name})
            self._flush()

    def _remove_subscription(self, name: str) -> None:
        sub = self._subs.pop(name, None)
        if sub is None:
            return
        self._topic_subs.get(sub.config.topic, set()).discard(name)
        sub.queue.close()
        sub.cond.notify_all()
