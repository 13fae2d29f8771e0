"""The ``google.pubsub.v1.Subscriber`` method table (subscriptions, messages, snapshots)."""

from __future__ import annotations

from typing import Any

import grpc
from google.pubsub_v1 import types as t

from vbq_emulators.pubsub import config
from vbq_emulators.pubsub.broker import Broker
from vbq_emulators.pubsub.service import Empty, pb, project, unary
from vbq_emulators.pubsub.streaming import streaming_pull

__all__ = ["PULL_WAIT_S", "subscriber"]

PULL_WAIT_S = 2.0
"""How long a unary Pull waits for a first message before answering empty, seconds."""


def _snapshots(broker: Broker) -> dict[str, Any]:
    def create_snapshot(req: Any) -> Any:
        return broker.create_snapshot(req.name, req.subscription, dict(req.labels))

    def list_snapshots(req: Any) -> Any:
        snapshots, token = broker.list_snapshots(
            project(req.project), page_size=req.page_size, page_token=req.page_token
        )
        return pb(t.ListSnapshotsResponse)(snapshots=snapshots, next_page_token=token)

    def update_snapshot(req: Any) -> Any:
        return broker.update_snapshot(req.snapshot, list(req.update_mask.paths))

    def delete_snapshot(req: Any) -> Any:
        broker.delete_snapshot(req.snapshot)
        return Empty()

    def seek(req: Any) -> Any:
        target = req.WhichOneof("target")
        time_s = None
        if target == "time":
            time_s = float(req.time.seconds) + float(req.time.nanos) / 1e9
        broker.seek(req.subscription, time_s=time_s, snapshot=req.snapshot)
        return pb(t.SeekResponse)()

    return {
        "CreateSnapshot": unary(create_snapshot, pb(t.CreateSnapshotRequest), pb(t.Snapshot)),
        "GetSnapshot": unary(
            lambda req: broker.get_snapshot(req.snapshot), pb(t.GetSnapshotRequest), pb(t.Snapshot)
        ),
        "ListSnapshots": unary(
            list_snapshots, pb(t.ListSnapshotsRequest), pb(t.ListSnapshotsResponse)
        ),
        "UpdateSnapshot": unary(update_snapshot, pb(t.UpdateSnapshotRequest), pb(t.Snapshot)),
        "DeleteSnapshot": unary(delete_snapshot, pb(t.DeleteSnapshotRequest), Empty),
        "Seek": unary(seek, pb(t.SeekRequest), pb(t.SeekResponse)),
    }


def subscriber(broker: Broker) -> grpc.GenericRpcHandler[Any, Any]:
    """The Subscriber handler over ``broker``."""

    def list_subscriptions(req: Any) -> Any:
        subs, token = broker.list_subscriptions(
            project(req.project), page_size=req.page_size, page_token=req.page_token
        )
        return pb(t.ListSubscriptionsResponse)(subscriptions=subs, next_page_token=token)

    def update_subscription(req: Any) -> Any:
        return broker.update_subscription(req.subscription, list(req.update_mask.paths))

    def modify_push_config(req: Any) -> Any:
        broker.modify_push_config(req.subscription, req.push_config)
        return Empty()

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
        return pb(t.PullResponse)(received_messages=received)

    def streaming(request_iterator: Any, context: grpc.ServicerContext) -> Any:
        return streaming_pull(broker, request_iterator, context)

    methods = {
        "CreateSubscription": unary(
            broker.create_subscription, pb(t.Subscription), pb(t.Subscription)
        ),
        "GetSubscription": unary(
            lambda req: broker.get_subscription(req.subscription),
            pb(t.GetSubscriptionRequest),
            pb(t.Subscription),
        ),
        "UpdateSubscription": unary(
            update_subscription, pb(t.UpdateSubscriptionRequest), pb(t.Subscription)
        ),
        "ModifyPushConfig": unary(modify_push_config, pb(t.ModifyPushConfigRequest), Empty),
        "ListSubscriptions": unary(
            list_subscriptions, pb(t.ListSubscriptionsRequest), pb(t.ListSubscriptionsResponse)
        ),
        "DeleteSubscription": unary(delete_subscription, pb(t.DeleteSubscriptionRequest), Empty),
        "Acknowledge": unary(acknowledge, pb(t.AcknowledgeRequest), Empty),
        "ModifyAckDeadline": unary(modify_ack_deadline, pb(t.ModifyAckDeadlineRequest), Empty),
        "Pull": unary(pull, pb(t.PullRequest), pb(t.PullResponse)),
        "StreamingPull": grpc.stream_stream_rpc_method_handler(
            streaming,
            request_deserializer=pb(t.StreamingPullRequest).FromString,
            response_serializer=pb(t.StreamingPullResponse).SerializeToString,
        ),
        **_snapshots(broker),
    }
    return grpc.method_handlers_generic_handler("google.pubsub.v1.Subscriber", methods)
