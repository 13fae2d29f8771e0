"""The ``google.pubsub.v1.Publisher`` method table."""

from __future__ import annotations

from typing import Any

import grpc
from google.pubsub_v1 import types as t

from vbq_emulators.pubsub.broker import Broker, OutgoingMessage
from vbq_emulators.pubsub.service import Empty, pb, project, unary

__all__ = ["publisher"]


def publisher(broker: Broker) -> grpc.GenericRpcHandler[Any, Any]:
    """The Publisher handler over ``broker``."""

    def publish(req: Any) -> Any:
        messages = [
            OutgoingMessage(m.data, dict(m.attributes), m.ordering_key, m) for m in req.messages
        ]
        return pb(t.PublishResponse)(message_ids=broker.publish(req.topic, messages))

    def list_topics(req: Any) -> Any:
        topics, token = broker.list_topics(
            project(req.project), page_size=req.page_size, page_token=req.page_token
        )
        return pb(t.ListTopicsResponse)(topics=topics, next_page_token=token)

    def list_topic_subscriptions(req: Any) -> Any:
        names, token = broker.list_topic_subscriptions(
            req.topic, page_size=req.page_size, page_token=req.page_token
        )
        return pb(t.ListTopicSubscriptionsResponse)(subscriptions=names, next_page_token=token)

    def list_topic_snapshots(req: Any) -> Any:
        names, token = broker.list_topic_snapshots(
            req.topic, page_size=req.page_size, page_token=req.page_token
        )
        return pb(t.ListTopicSnapshotsResponse)(snapshots=names, next_page_token=token)

    def update_topic(req: Any) -> Any:
        return broker.update_topic(req.topic, list(req.update_mask.paths))

    def delete_topic(req: Any) -> Any:
        broker.delete_topic(req.topic)
        return Empty()

    def detach_subscription(req: Any) -> Any:
        broker.detach_subscription(req.subscription)
        return pb(t.DetachSubscriptionResponse)()

    methods = {
        "CreateTopic": unary(broker.create_topic, pb(t.Topic), pb(t.Topic)),
        "UpdateTopic": unary(update_topic, pb(t.UpdateTopicRequest), pb(t.Topic)),
        "Publish": unary(publish, pb(t.PublishRequest), pb(t.PublishResponse)),
        "GetTopic": unary(
            lambda req: broker.get_topic(req.topic), pb(t.GetTopicRequest), pb(t.Topic)
        ),
        "ListTopics": unary(list_topics, pb(t.ListTopicsRequest), pb(t.ListTopicsResponse)),
        "ListTopicSubscriptions": unary(
            list_topic_subscriptions,
            pb(t.ListTopicSubscriptionsRequest),
            pb(t.ListTopicSubscriptionsResponse),
        ),
        "ListTopicSnapshots": unary(
            list_topic_snapshots,
            pb(t.ListTopicSnapshotsRequest),
            pb(t.ListTopicSnapshotsResponse),
        ),
        "DeleteTopic": unary(delete_topic, pb(t.DeleteTopicRequest), Empty),
        "DetachSubscription": unary(
            detach_subscription,
            pb(t.DetachSubscriptionRequest),
            pb(t.DetachSubscriptionResponse),
        ),
    }
    return grpc.method_handlers_generic_handler("google.pubsub.v1.Publisher", methods)
