"""Pub/Sub plumbing every vbq role shares: clients, resources, streams, dead letters.

- :mod:`~vbq.pubsub.admin`: Google's publisher and subscriber clients built from settings
  (emulator aware), and the topics and subscriptions vbq creates (``--create``).
- :mod:`~vbq.pubsub.stream`: streaming pull that cannot orphan a stream across reconnects.
- :mod:`~vbq.pubsub.messages`: the message and dead-letter Protocols consumers are typed on.
- :mod:`~vbq.pubsub.dead_letter`: :class:`DeadLetterSink`, where malformed messages go.

The subscriber runtime (:mod:`vbq.subscribers`) and the bridge (:mod:`vbq.producers.bridge`)
both consume Pub/Sub through these; neither imports the other.
"""

from vbq.pubsub.dead_letter import MAX_REASON_CHARS, DeadLetterSink
from vbq.pubsub.messages import DeadLetterSender, MessageLike

__all__ = ["MAX_REASON_CHARS", "DeadLetterSender", "DeadLetterSink", "MessageLike"]
