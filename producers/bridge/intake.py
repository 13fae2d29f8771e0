"""The bridge's intake: one streaming pull per subscription feeding one queue, taken in batches.

While the bridge accepts, every delivery goes to the queue (and counts as outstanding); the
bridge thread takes batches of up to ``batch_size`` messages, waiting at most
``batch_latency_s`` for one to fill. :meth:`Intake.release` closes the streams and hands every
message not handled back to Pub/Sub (see its docstring for why the order matters); the next
:meth:`Intake.keep_streams` reopens them. A stream that ends on its own is reopened after a
short random delay, except on errors that retrying cannot fix (no subscription, no access).
"""

from __future__ import annotations

import functools
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from vbq.errors import PubSubError
from vbq.logs import get_logger
from vbq.producers.bridge.handling import Counters, FaultAction, Pending
from vbq.pubsub.messages import MessageLike
from vbq.settings import Settings

__all__ = ["Intake"]

_log = get_logger("vbq.bridge")

_FATAL = (gexc.NotFound, gexc.PermissionDenied, gexc.InvalidArgument, gexc.Unauthenticated)


class Intake:
    """Streaming pulls in, batches out, and the hand-back of what was not handled.

    Args:
        settings: ``shutdown_grace_s`` (how long closing streams may take).
        subscriptions: subscription paths to pull.
        topics: subscription path -> topic path; :meth:`start` fills in the missing ones.
        counters: the bridge's counters (received, outstanding, nacked, stream_releases).
        settle: nacks a message that cannot be handed back by ack id (a test's fake message).
        max_outstanding: flow control, leased messages per stream.
        max_lease_s: the client stops extending a message's lease after this, in seconds.
        lease_extension_s: each lease extension (and the stream's ack deadline), in seconds.
        batch_size: messages per batch at most.
        batch_latency_s: how long a batch waits to fill, in seconds.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        subscriptions: Sequence[str],
        topics: dict[str, str],
        counters: Counters,
        settle: Callable[[MessageLike, FaultAction], None],
        max_outstanding: int,
        max_lease_s: float,
        lease_extension_s: int,
        batch_size: int,
        batch_latency_s: float,
    ) -> None:
        self.settings = settings
        self.subscriptions = list(subscriptions)
        self._topics = topics
        self._counters = counters
        self._settle = settle
        self.max_outstanding = max_outstanding
        self.max_lease_s = max_lease_s
        self.lease_extension_s = lease_extension_s
        self.batch_size = batch_size
        self.batch_latency_s = batch_latency_s
        self._sub_client: pubsub_v1.SubscriberClient | None = None
        self._streams: dict[str, Any] = {}  # subscription path -> streaming pull future
        self._retry_at: dict[str, float] = {}  # subscription path -> monotonic reopen time
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._accepting = threading.Event()

    @property
    def streaming(self) -> bool:
        """True while at least one stream is open."""
        return bool(self._streams)

    def start(self, sub_client: pubsub_v1.SubscriberClient) -> None:
        """Look up the topic of each subscription and start accepting deliveries.

        Raises:
            PubSubError: a subscription does not exist or access is denied.
        """
        self._sub_client = sub_client
        for path in self.subscriptions:
            if path in self._topics:
                continue
            try:
                sub = sub_client.get_subscription(request={"subscription": path}, timeout=30.0)
            except gexc.GoogleAPICallError as exc:
                raise PubSubError(f"subscription {path}: {exc}") from exc
            self._topics[path] = sub.topic
        self._accepting.set()

    def keep_streams(self) -> None:
        """Open the streams that are not open (after a release, or after one ended).

        Raises:
            PubSubError: a stream ended with an error that retrying cannot fix.
        """
        assert self._sub_client is not None, "start() first"
        if not self._accepting.is_set():
            self._accepting.set()
        now = time.monotonic()
        for path in self.subscriptions:
            future = self._streams.get(path)
            if future is not None and future.done():
                exc = future.exception()
                if isinstance(exc, _FATAL):
                    raise PubSubError(f"streaming pull on {path}: {exc}") from exc
                _log.warning("bridge.stream_ended", subscription=path, error=str(exc))
                del self._streams[path]
                self._retry_at[path] = now + random.uniform(0.5, 1.5)
                continue
            if future is None and self._retry_at.get(path, 0.0) <= now:
                self._streams[path] = self._sub_client.subscribe(
                    path,
                    callback=functools.partial(self._on_message, path),
                    flow_control=pubsub_v1.types.FlowControl(
                        max_messages=self.max_outstanding,
                        max_lease_duration=self.max_lease_s,
                        max_duration_per_lease_extension=int(self.lease_extension_s),
                    ),
                    await_callbacks_on_shutdown=True,
                )

    def take_batch(self, stop_event: threading.Event) -> list[Pending]:
        """Up to ``batch_size`` messages; waits 0.1 s for the first, then ``batch_latency_s``."""
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_latency_s
        while len(batch) < self.batch_size and not stop_event.is_set():
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else None
            except queue.Empty:
                break
            if item is None:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            batch.append(item)
        return batch

    def requeue(self, item: Pending) -> None:
        """Put a message back for a later batch."""
        self._queue.put(item)

    def release(self, stop_event: threading.Event, held: Sequence[Pending] = ()) -> None:
        """Close every stream, then hand the messages held here back to Pub/Sub.

        The order matters: nacking first would let Pub/Sub redeliver them at once onto the
        stream being closed, where they would sit leased until their ack deadline. Closed
        first, the stream's own dispatcher is gone, so the held messages are nacked with a
        unary ``ModifyAckDeadline(0)`` (messages that reach the callback while the stream
        closes are nacked by it, through the still-running dispatcher).
        """
        self._accepting.clear()
        streams = self._streams
        for future in streams.values():
            future.cancel()
        deadline = time.monotonic() + self.settings.shutdown_grace_s
        for future in streams.values():
            try:
                future.result(timeout=max(0.1, deadline - time.monotonic()))
            except Exception as exc:  # cancelled streams end with an error or a timeout
                _log.debug("bridge.stream_closed", error=repr(exc))
        released = bool(streams)
        streams.clear()
        self._hand_back([*held, *self._drain_queue()])
        if released and not stop_event.is_set():
            self._counters.add("stream_releases")
            _log.info("bridge.streams_released")

    def _on_message(self, subscription: str, message: MessageLike) -> None:
        if not self._accepting.is_set():
            message.nack()
            return
        self._counters.received()
        self._queue.put(Pending(subscription, message))

    def _drain_queue(self) -> list[Pending]:
        out: list[Pending] = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def _hand_back(self, pending: Sequence[Pending]) -> None:
        """Nack messages whose stream is closed: unary ModifyAckDeadline(0) per subscription
        (a fake message without ``ack_id`` is nacked directly)."""
        by_sub: dict[str, list[str]] = {}
        for item in pending:
            ack_id = getattr(item.message, "ack_id", None)
            if isinstance(ack_id, str) and ack_id and self._sub_client is not None:
                by_sub.setdefault(item.subscription, []).append(ack_id)
                self._counters.add("nacked")
                self._counters.add("outstanding", -1)
            else:
                self._settle(item.message, "nack")
        for subscription, ack_ids in by_sub.items():
            for start in range(0, len(ack_ids), 1000):
                try:
                    self._sub_client.modify_ack_deadline(  # type: ignore[union-attr]
                        request={
                            "subscription": subscription,
                            "ack_ids": ack_ids[start : start + 1000],
                            "ack_deadline_seconds": 0,
                        },
                        timeout=10.0,
                    )
                except gexc.GoogleAPICallError as exc:
                    # Not lost: Pub/Sub redelivers them when their ack deadline passes.
                    _log.warning("bridge.hand_back_failed", count=len(ack_ids), error=str(exc))
