"""A Pub/Sub emulator (gRPC) that Google's ``google-cloud-pubsub`` client talks to unchanged.

Run it with ``vbq emulator pubsub --port N`` and point clients at it with
``PUBSUB_EMULATOR_HOST=127.0.0.1:N``. It keeps topics, subscriptions and messages in memory
(optionally journaled to ``--data-file``) and implements publishing with ordering keys, unary
and streaming pull with server-side flow control, ack deadlines and redelivery, retry-policy
backoff, dead-letter topics, subscription filters and message retention; push delivery
(Google's envelope or unwrapped, OIDC tokens); snapshots, Seek and ``retain_acked_messages``;
the SchemaService with Avro and protocol buffer validation of published messages.
"""

from vbq_emulators.pubsub.broker import Broker, OutgoingMessage
from vbq_emulators.pubsub.filters import Filter, parse_filter
from vbq_emulators.pubsub.oidc import TokenSigner
from vbq_emulators.pubsub.policy import DeliveryPolicy
from vbq_emulators.pubsub.queue import SubscriptionQueue
from vbq_emulators.pubsub.server import PubSubEmulatorServer
from vbq_emulators.pubsub.status import StatusError

__all__ = [
    "Broker",
    "DeliveryPolicy",
    "Filter",
    "OutgoingMessage",
    "PubSubEmulatorServer",
    "StatusError",
    "SubscriptionQueue",
    "TokenSigner",
    "parse_filter",
]
