"""What a handler may want to know about the delivery it is handling.

The runtime sets a context variable around each handler call; read it with
:func:`current_delivery` (a contextvar instead of a second parameter keeps the handler
signature one ``JobEvent`` for everyone)::

    @handler("job.failed")
    def page(event: JobEvent) -> None:
        d = current_delivery()
        if d is not None and (d.delivery_attempt or 1) > 3:
            ...
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Delivery", "current_delivery", "delivery_context"]


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One delivery of one Pub/Sub message to this subscriber.

    Attributes:
        message_id: Pub/Sub's message id (the same on every redelivery).
        delivery_attempt: 1 on the first delivery, counted by Pub/Sub; None when the
            subscription has no dead-letter policy (Pub/Sub only counts with one).
        publish_time: when Pub/Sub accepted the message (UTC).
        ordering_key: the submission id for vbq events.
        attributes: the message attributes.
        subscription: ``projects/P/subscriptions/S`` the message came from.
        group: the subscriber group whose inbox dedupes this event.
        handler: ``module:qualname`` of the handler being run.
    """

    message_id: str
    delivery_attempt: int | None
    publish_time: datetime | None
    ordering_key: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    subscription: str = ""
    group: str = ""
    handler: str = ""


_current: ContextVar[Delivery | None] = ContextVar("vbq_delivery", default=None)


def current_delivery() -> Delivery | None:
    """The delivery being handled in this thread, or None outside a handler."""
    return _current.get()


@contextmanager
def delivery_context(delivery: Delivery) -> Iterator[Delivery]:
    """Make ``delivery`` the current one inside the block (the runtime uses this)."""
    token = _current.set(delivery)
    try:
        yield delivery
    finally:
        _current.reset(token)
