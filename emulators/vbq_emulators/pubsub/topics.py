"""Topic management (Create/Get/List/Update/Delete, ListTopicSubscriptions, DetachSubscription)
on the broker's state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vbq_emulators.pubsub import config
from vbq_emulators.pubsub.config import page
from vbq_emulators.pubsub.policy import RetainedLog
from vbq_emulators.pubsub.schemas import SchemaOps
from vbq_emulators.pubsub.state import b64
from vbq_emulators.pubsub.status import StatusError
from vbq_emulators.pubsub.topic_config import apply_topic_update, normalize_topic, topic_retention_s

__all__ = ["TopicOps"]


class TopicOps(SchemaOps):
    """Topics: the admin half of the Publisher service."""

    def policy_for(self, sub_pb: Any) -> Any:
        """The delivery policy of a subscription, given its topic's retention; also sets the
        subscription's output-only ``topic_message_retention_duration``."""
        topic = self._topics.get(sub_pb.topic)
        if topic is not None and topic.HasField("message_retention_duration"):
            sub_pb.topic_message_retention_duration.CopyFrom(topic.message_retention_duration)
        else:
            sub_pb.ClearField("topic_message_retention_duration")
        return config.delivery_policy(sub_pb, topic_retention_s=topic_retention_s(topic))

    def create_topic(self, topic: Any) -> Any:
        """Create a topic; returns it.

        Raises:
            StatusError: INVALID_ARGUMENT (bad name, retention, schema settings), NOT_FOUND (the
                schema), ALREADY_EXISTS.
        """
        stored = normalize_topic(topic)
        with self._lock:
            if stored.name in self._topics:
                raise StatusError.already_exists(f"topic={stored.name}")
            self.check_topic_schema(stored)
            self._add_topic(stored)
            self._write({"op": "topic", "pb": b64(stored.SerializeToString())})
            self._flush()
            return stored

    def _add_topic(self, topic: Any) -> None:
        """Add or replace a topic (also from the journal): its retention log follows."""
        self._topics[topic.name] = topic
        self._topic_subs.setdefault(topic.name, set())
        if topic_retention_s(topic) > 0:
            self._topic_logs.setdefault(topic.name, RetainedLog())
        else:
            self._topic_logs.pop(topic.name, None)
        for sub_name in self._topic_subs[topic.name]:
            sub = self._subs[sub_name]
            sub.queue.policy = self.policy_for(sub.config)

    def get_topic(self, name: str) -> Any:
        """The topic called ``name``. Raises: StatusError NOT_FOUND."""
        with self._lock:
            topic = self._topics.get(name)
            if topic is None:
                raise StatusError.not_found(f"topic={name}")
            return topic

    def update_topic(self, update: Any, paths: Sequence[str]) -> Any:
        """UpdateTopic; returns the new topic.

        Raises:
            StatusError: NOT_FOUND (topic or schema), INVALID_ARGUMENT (mask or values).
        """
        with self._lock:
            current = self._topics.get(update.name)
            if current is None:
                raise StatusError.not_found(f"topic={update.name}")
            new_pb = apply_topic_update(current, update, list(paths))
            self.check_topic_schema(new_pb)
            self._add_topic(new_pb)
            self._write({"op": "topic", "pb": b64(new_pb.SerializeToString())})
            self._flush()
            return new_pb

    def list_topics(
        self, project: str, *, page_size: int, page_token: str
    ) -> tuple[list[Any], str]:
        """Topics of ``projects/P``, sorted by name, and the next page token ('' at the end)."""
        with self._lock:
            prefix = f"{project}/topics/"
            names, token = page(
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
        self._topic_logs.pop(name, None)
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
            return page(list(self._topic_subs[topic]), page_size, page_token)

    def list_topic_snapshots(
        self, topic: str, *, page_size: int, page_token: str
    ) -> tuple[list[str], str]:
        """Names of the snapshots taken on ``topic``. Raises: StatusError NOT_FOUND."""
        with self._lock:
            if topic not in self._topics:
                raise StatusError.not_found(f"topic={topic}")
            return page(list(self._topic_snaps.get(topic, ())), page_size, page_token)

    def detach_subscription(self, name: str) -> None:
        """DetachSubscription: the subscription stops receiving and drops its backlog; Pull and
        StreamingPull answer FAILED_PRECONDITION, pushes stop. Raises: StatusError NOT_FOUND."""
        with self._lock:
            sub = self._sub(name)
            if sub.config.detached:
                return
            detached = config.SubscriptionPb()
            detached.CopyFrom(sub.config)
            detached.detached = True
            self._set_detached(sub, detached)
            self._write({"op": "sub", "pb": b64(detached.SerializeToString())})
            self._flush()

    def _set_detached(self, sub: Any, detached_pb: Any) -> None:
        self._topic_subs.get(sub.config.topic, set()).discard(sub.name)
        sub.config = detached_pb
        sub.queue.close()
        sub.cond.notify_all()
