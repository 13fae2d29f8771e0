"""Event-driven producers: turn Pub/Sub messages into submissions (``vbq bridge``).

```python
from producers import Client
from producers.bridge import Backpressure, Bridge, RuleSet, StoreBacklog

bridge = Bridge(settings=settings, client=Client.from_settings(settings),
                subscriptions=["vbq-requests-sub", rules.subscription],
                rules=RuleSet.load("bridge-rules.yaml"))
bridge.run(stop_event)
```

- :mod:`~producers.bridge.requests`: job request messages (HTTP API body + options).
- :mod:`~producers.bridge.notifications`: Cloud Storage notifications (parse and build).
- :mod:`~producers.bridge.rules` and :mod:`~producers.bridge.template`: notification rules.
- :mod:`~producers.bridge.backpressure`: pause while the in-flight cap and backlog are full.
- :mod:`~producers.bridge.consumer`: the streaming-pull runtime.
- :mod:`~producers.bridge.handling`: one batch: parse, submit, ack or dead-letter.
- :mod:`~producers.bridge.notify`: publish a notification as Google does (local demos).
"""

from producers.bridge.backpressure import Backpressure, Pressure, StoreBacklog, should_pause
from producers.bridge.consumer import Bridge, BridgeStats
from producers.bridge.handling import FaultAction, FaultHook
from producers.bridge.notifications import (
    EVENT_FINALIZE,
    ObjectEvent,
    build_notification,
    is_storage_notification,
    object_resource,
    parse_notification,
)
from producers.bridge.notify import fetch_object_resource, publish_object_notification
from producers.bridge.requests import JobRequest, message_idempotency_key, parse_request
from producers.bridge.resources import ensure_bridge_resources, subscription_path, topic_path
from producers.bridge.rules import (
    DEFAULT_NOTIFICATIONS_SUBSCRIPTION,
    DEFAULT_NOTIFICATIONS_TOPIC,
    Rule,
    RuleSet,
    glob_regex,
    notification_idempotency_key,
)
from producers.bridge.template import Template, sanitize_label_value

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
