"""Subscribers: run your handlers on vbq's job events, once per event.

Write handlers::

    from vbq.subscribers import handler
    from vbq.events import JobEvent

    @handler("job.succeeded")
    def load_outputs(event: JobEvent) -> None: ...

and run them with ``vbq subscribe --handler mypkg.handlers:load_outputs [--create]``, or in
Python with :class:`Subscriber`. See :mod:`vbq.subscribers.runtime` for ack/nack, dedupe and
shutdown semantics, :mod:`vbq.subscribers.context` for per-delivery details.
"""

from vbq.pubsub.dead_letter import DeadLetterSink
from vbq.subscribers.context import Delivery, current_delivery
from vbq.subscribers.inbox import ClaimStatus, Inbox
from vbq.subscribers.loader import load_handlers
from vbq.subscribers.registry import REGISTRY, HandlerRegistry, Registration, handler
from vbq.subscribers.runtime import Subscriber, SubscriberStats

__all__ = [
    "REGISTRY",
    "ClaimStatus",
    "DeadLetterSink",
    "Delivery",
    "HandlerRegistry",
    "Inbox",
    "Registration",
    "Subscriber",
    "SubscriberStats",
    "current_delivery",
    "handler",
    "load_handlers",
]
