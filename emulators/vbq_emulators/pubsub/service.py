"""gRPC handlers of ``google.pubsub.v1.Publisher`` and ``google.pubsub.v1.Subscriber``.

google-cloud-pubsub ships message classes but no servicer base classes, so the handlers are
registered by full method name with the raw protobuf classes as (de)serializers. Methods not
listed here answer UNIMPLEMENTED, which is what gRPC does for unknown methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import empty_pb2
from google.pubsub_v1 import types

from vbq_emulators.pubsub import config
from vbq_emulators.pubsub.broker import Broker, OutgoingMessage
from vbq_emulators.pubsub.status import StatusError
from vbq_emulators.pubsub.streaming import streaming_pull

__all__ = ["PULL_WAIT_S", "handlers"]

PULL_WAIT_S = 2.0
"""How long a unary Pull waits for a first message before answering empty, seconds."""

Empty: Any = empty_pb2.Empty


def _pb(cls: Any) -> Any:
    return cls.pb()


def _project(name: str) -> str:
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "projects" or not parts[1]:
        raise StatusError.invalid_argument(f"Invalid project name given (project={name}).")
    return name


def _unary(behavior: Callable[[Any], Any], request_cls: Any, response_cls: Any) -> Any:
    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request)
        except StatusError as err:
            context.abort(err.code, err.message)

    return grpc.unary_unary_rpc_method_handler(
        handler,
        request_deserializer=request_cls.FromString,
        response_serializer=response_cls.SerializeToString,
    )


def _publisher(broker: Broker) -> grpc.GenericRpcHandler[Any, Any]:
    def publish(req: Any) -> Any:
        messages = [
            OutgoingMessage(m.data, dict(m.attributes), m.ordering_key, m) for m in req.messages
        ]
        return _pb(types.PublishResponse)(message_ids=broker.publish(req.topic, messages))

    def list_topics(req: Any) -> Any:
        topics, token = broker.list_topics(
            _project(req.project), page_size=req.page_size, page_token=req.page_token
        )
        return _pb(types.ListTopicsResponse)(topics=topics, next_page_token=token)

    def list_topic_subscriptions(req: Any) -> Any:
        names, token = broker.list_topic_subscriptions(
            req.topic, page_size=req.page_size, page_token=req.page_token
        )
        return _pb(types.ListTopicSubscriptionsResponse)(subscriptions=names, next_page_token=token)

    def list_topic_snapshots(req: Any) -> Any:
        broker.get_topic(req.topic)
        return _pb(types.ListTopicSnapshotsResponse)()

    def delete_topic(req: Any) -> Any:
        broker.delete_topic(req.topic)
        return Empty()

    t = types
    methods = {
        "CreateTopic": _unary(broker.create_topic, _pb(t.Topic), _pb(t.Topic)),
        "Publish": _unary(publish, _pb(t.PublishRequest), _pb(t.PublishResponse)),
        "GetTopic": _unary(
            lambda req: broker.get_topic(req.topic), _pb(t.GetTopicRequest), _pb(t.Topic)
        ),
        "ListTopics": _unary(list_topics, _pb(t.ListTopicsRequest), _pb(t.ListTopicsResponse)),
        "ListTopicSubscriptions": _unary(
            list_topic_subscriptions,
            _pb(t.ListTopicSubscriptionsRequest),
            _pb(t.ListTopicSubscriptionsResponse),
        ),
        "ListTopicSnapshots": _unary(
            list_topic_snapshots,
            _pb(t.ListTopicSnapshotsRequest),
            _pb(t.ListTopicSnapshotsResponse),
        ),
        "DeleteTopic": _unary(delete_topic, _pb(t.DeleteTopicRequest), Empty),
    }
    return grpc.method_handlers_generic_handler("google.pubsub.v1.Publisher", methods)


def _subscriber(broker: Broker) -> grpc.GenericRpcHandler[Any, Any]:
    def list_subscriptions(req: Any) -> Any:
        subs, token = broker.list_subscriptions(
            _project(req.project), page_size=req.page_size, page_token=req.page_token
        )
        return _pb(types.ListSubscriptionsResponse)(subscriptions=subs, next_page_token=token)

    def update_subscription(req: Any) -> Any:
        return broker.update_subscription(req.subscription, list(req.update_mask.paths))

    def delete_subscription(req: Any) -> Any:
        broker.delete_subscription(req.subscription)
        return Empty()

    def acknowledge(req: Any) -> Any:
        broker.acknowledge(req.subscription, list(req.ack_ids))
        return Empty()

    def modify_ack_deadline(req: Any) -> Any:
        broker.modify_ack_deadline(req.subscription, list(req.ack_ids), req.ack_deadline_seconds)
        return Empty()

    def pull(req: Any) -> Any:
        config.validate_name(req.subscription, "subscriptions")
        wait_s = 0.0 if req.return_immediately else PULL_WAIT_S
        received = broker.pull(req.subscription, max_messages=req.max_messages, wait_s=wait_s)
        return _pb(types.PullResponse)(received_messages=received)

    def streaming(request_iterator: Any, context: grpc.ServicerContext) -> Any:
        return streaming_pull(broker, request_iterator, context)

    t = types
    methods = {
        "CreateSubscription": _unary(
            broker.create_subscription, _pb(t.Subscription), _pb(t.Subscription)
        ),
        "GetSubscription": _unary(
            lambda req: broker.get_subscription(req.subscription),
            _pb(t.GetSubscriptionRequest),
            _pb(t.Subscription),
        ),
        "UpdateSubscription": _unary(
            update_subscription, _pb(t.UpdateSubscriptionRequest), _pb(t.Subscription)
        ),
        "ListSubscriptions": _unary(
            list_subscriptions, _pb(t.ListSubscriptionsRequest), _pb(t.ListSubscriptionsResponse)
        ),
        "DeleteSubscription": _unary(delete_subscription, _pb(t.DeleteSubscriptionRequest), Empty),
        "Acknowledge": _unary(acknowledge, _pb(t.AcknowledgeRequest), Empty),
        "ModifyAckDeadline": _unary(modify_ack_deadline, _pb(t.ModifyAckDeadlineRequest), Empty),
        "Pull": _unary(pull, _pb(t.PullRequest), _pb(t.PullResponse)),
        "StreamingPull": grpc.stream_stream_rpc_method_handler(
            streaming,
            request_deserializer=_pb(t.StreamingPullRequest).FromString,
            response_serializer=_pb(t.StreamingPullResponse).SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler("google.pubsub.v1.Subscriber", methods)


def handlers(broker: Broker) -> list[grpc.GenericRpcHandler[Any, Any]]:
    """The Publisher and Subscriber handlers over ``broker`` (``add_generic_rpc_handlers``)."""
    return [_publisher(broker), _subscriber(broker)]
