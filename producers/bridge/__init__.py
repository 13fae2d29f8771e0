"""Event-driven producers: turn Pub/Sub messages into submissions (``vbq bridge``).

```python
from vbq.producers import Client
from vbq.producers.bridge import Backpressure, Bridge, RuleSet, StoreBacklog

bridge = Bridge(settings=settings, client=Client.from_settings(settings),
                subscriptions=["vbq-requests-sub", rules.subscription],
                rules=RuleSet.load("bridge-rules.yaml"))
bridge.run(stop_event)
```

- :mod:`~vbq.producers.bridge.requests`: job request messages (HTTP API body + options).
- :mod:`~vbq.producers.bridge.notifications`: Cloud Storage notifications (parse and build).
- :mod:`~vbq.producers.bridge.rules` and :mod:`~vbq.producers.bridge.template`: notification rules.
- :mod:`~vbq.producers.bridge.backpressure`: pause while the in-flight cap and backlog are full.
- :mod:`~vbq.producers.bridge.consumer`: the streaming-pull runtime.
- :mod:`~vbq.producers.bridge.handling`: one batch: parse, submit, ack or dead-letter.
- :mod:`~vbq.producers.bridge.notify`: publish a notification as Google does (local demos).
"""

from vbq.producers.bridge.backpressure import Backpressure, Pressure, StoreBacklog, should_pause
from vbq.producers.bridge.consumer import Bridge, BridgeStats
from vbq.producers.bridge.handling import FaultAction, FaultHook
from vbq.producers.bridge.notifications import (
    EVENT_FINALIZE,
    ObjectEvent,
    build_notification,
    is_storage_notification,
    object_resource,
    parse_notification,
)
from vbq.producers.bridge.notify import fetch_object_resource, publish_object_notification
from vbq.producers.bridge.requests import JobRequest, message_idempotency_key, parse_request
from vbq.producers.bridge.resources import ensure_bridge_resources, subscription_path, topic_path
from vbq.producers.bridge.rules import (
    DEFAULT_NOTIFICATIONS_SUBSCRIPTION,
    DEFAULT_NOTIFICATIONS_TOPIC,
    Rule,
    RuleSet,
    glob_regex,
    notification_idempotency_key,
)
from vbq.producers.bridge.template import Template, sanitize_label_value

__all__ = [
    "DEFAULT_NOTIFICATIONS_SUBSCRIPTION",
    "DEFAULT_NOTIFICATIONS_TOPIC",
    "EVENT_FINALIZE",
    "Backpressure",
    "Bridge",
    "BridgeStats",
    "FaultAction",
    "FaultHook",
    "JobRequest",
    "ObjectEvent",
    "Pressure",
    "Rule",
    "RuleSet",
    "StoreBacklog",
    "Template",
    "build_notification",
    "ensure_bridge_resources",
    "fetch_object_resource",
    "glob_regex",
    "is_storage_notification",
    "message_idempotency_key",
    "notification_idempotency_key",
    "object_resource",
    "parse_notification",
    "parse_request",
    "publish_object_notification",
    "sanitize_label_value",
    "should_pause",
    "subscription_path",
    "topic_path",
]
