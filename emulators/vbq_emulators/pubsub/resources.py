"""Subscription management (Create/Get/List/Update/Delete, ModifyPushConfig) on the broker's
state."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from vbq_emulators.pubsub import config
from vbq_emulators.pubsub.config import page
from vbq_emulators.pubsub.filters import parse_filter
from vbq_emulators.pubsub.queue import SubscriptionQueue
from vbq_emulators.pubsub.state import SubscriptionRecord, b64
from vbq_emulators.pubsub.status import StatusError
from vbq_emulators.pubsub.topics import TopicOps

__all__ = ["ResourceOps"]


class ResourceOps(TopicOps):
    """Topics (see :class:`~vbq_emulators.pubsub.topics.TopicOps`) and subscriptions: the
    admin half of Publisher and Subscriber."""

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
        """Add or replace a subscription (also from the journal)."""
        existing = self._subs.get(sub_pb.name)
        if existing is not None:
            if sub_pb.detached and not existing.config.detached:
                self._set_detached(existing, sub_pb)
            existing.config = sub_pb
            existing.queue.policy = self.policy_for(sub_pb)
            existing.cond.notify_all()
            self._subscription_changed(sub_pb.name)
            return
        record = SubscriptionRecord(
            name=sub_pb.name,
            config=sub_pb,
            filter=parse_filter(sub_pb.filter),
            queue=SubscriptionQueue(epoch=self._epoch, policy=self.policy_for(sub_pb)),
            cond=threading.Condition(self._lock),
        )
        self._subs[sub_pb.name] = record
        if not sub_pb.detached:
            self._topic_subs.setdefault(sub_pb.topic, set()).add(sub_pb.name)
        self._subscription_changed(sub_pb.name)

    def _subscription_changed(self, name: str) -> None:
        """Hook: a subscription was created or changed (push delivery starts or stops)."""

    def modify_push_config(self, name: str, push_config: Any) -> None:
        """ModifyPushConfig: set (or, empty, clear) the push endpoint; an empty config makes it
        a pull subscription again. Raises: StatusError NOT_FOUND, INVALID_ARGUMENT."""
        update = config.SubscriptionPb(name=name)
        update.push_config.CopyFrom(push_config)
        self.update_subscription(update, ["push_config"])

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
            names, token = page(
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
        self._subscription_changed(name)
