"""The bridge: Pub/Sub messages in, submissions out (``vbq bridge``).

One :class:`Bridge` pulls one or more subscriptions with streaming pull. Each message is either

- a **job request** (JSON body of ``POST /v1/submissions``, see
  :mod:`vbq.producers.bridge.requests`),
  idempotency key defaulting to ``pubsub:{project}/{topic}#{message_id}``; or
- a **Cloud Storage notification** (attributes ``eventType``, ``bucketId``, ``objectId``, see
  :mod:`vbq.producers.bridge.notifications`), turned into a request by the first matching rule
  (:mod:`vbq.producers.bridge.rules`), key ``gcs:{bucket}/{object}#{generation}``. Other event
  types than ``OBJECT_FINALIZE`` and objects no rule matches are acked and counted.

Messages are handled in small batches by one thread: parse, then ``Client.submit_many``
(one pipelined ``store.create_many``, one broker round trip for the ``vbq.submit`` tasks).

Ack rules (at-least-once in, exactly-once submissions):

- A message is acked only after ``store.create`` returned for it: the record is in Redis (AOF)
  in state ACCEPTED. Its ``vbq.submit`` task was then published in the same call; if that
  publish failed, the client logs it and the workers' sweeper re-enqueues ACCEPTED records
  older than 60 s, so the ack does not wait for the broker (the same guarantee the HTTP API
  gives). A redelivered message maps to the same idempotency key and so to the same submission.
- Invalid messages (not JSON, a broken spec rule, an idempotency conflict) are published to
  the dead-letter topic with the original data and attributes plus ``vbq_error`` (the message),
  ``vbq_error_fields`` (comma-separated field names), ``vbq_subscription`` and
  ``vbq_message_id``, and acked after Pub/Sub confirmed that publish.
- The job store unreachable: the batch is retried here with backoff (the messages stay leased,
  so flow control stops new deliveries) rather than nacked, which would burn the
  subscription's delivery attempts and dead-letter valid requests during a Redis outage.

Backpressure (:mod:`vbq.producers.bridge.backpressure`): the pressure is measured right before each
batch (three Redis reads), so at most one batch lands beyond ``max_backlog``. While paused the
batch is held and nothing is acked; Pub/Sub's flow control stops delivering once
``max_outstanding`` messages are leased, so nothing piles up in the bridge either. After
``release_after_s`` of pause the streams are closed (leased messages nacked back to Pub/Sub for
other consumers) and reopened when the pause ends.

Shutdown: stop taking messages, finish the batch in hand, nack what is queued, close the
streams (pending acks are flushed).
"""

from __future__ import annotations

import functools
import queue
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from vbq.errors import PubSubError
from vbq.logs import get_logger
from vbq.producers.bridge.backpressure import Backpressure
from vbq.producers.bridge.handling import BatchHandler, Counters, FaultAction, FaultHook, Pending
from vbq.producers.bridge.rules import RuleSet
from vbq.producers.client import Client
from vbq.pubsub.admin import subscriber_client
from vbq.pubsub.messages import DeadLetterSender, MessageLike
from vbq.settings import Settings

__all__ = ["Bridge", "BridgeStats", "FaultAction", "FaultHook"]

_log = get_logger("vbq.bridge")

_FATAL = (gexc.NotFound, gexc.PermissionDenied, gexc.InvalidArgument, gexc.Unauthenticated)


@dataclass(frozen=True, kw_only=True)
class BridgeStats:
    """Counters since the bridge was created.

    Attributes:
        received: deliveries taken in (redeliveries count again).
        submitted: deliveries that created a new submission.
        replayed: deliveries whose idempotency key already had a submission (acked, no new one).
        dead_lettered: invalid messages sent to the dead-letter topic.
        ignored: storage notifications of another event type than ``OBJECT_FINALIZE``.
        unmatched: finalize notifications no rule matched.
        nacked: deliveries nacked (shutdown, a failed dead-letter publish, the fault hook).
        dropped: deliveries left to expire by the fault hook.
        store_retries: batches retried because the job store failed.
        outstanding: deliveries taken in and not yet acked, nacked or dropped.
        peak_outstanding: the largest ``outstanding`` seen.
        pauses: how often backpressure paused the bridge.
        paused_s: seconds spent paused.
        stream_releases: how often a long pause closed the streams.
    """

    received: int
    submitted: int
    replayed: int
    dead_lettered: int
    ignored: int
    unmatched: int
    nacked: int
    dropped: int
    store_retries: int
    outstanding: int
    peak_outstanding: int
    pauses: int
    paused_s: float
    stream_releases: int


class Bridge:
    """Consume request and notification subscriptions and submit jobs.

    Args:
        settings: project (paths), dead-letter topic, emulator host, shutdown grace.
        client: the producer client that validates and stores (``Client.from_settings``).
        subscriptions: subscription ids or paths to pull.
        rules: storage-notification rules (None: every notification is "unmatched").
        backpressure: pause policy (None: never pause).
        subscriber: a ``SubscriberClient`` (default: built from settings, closed at the end).
        dead_letter: sink for invalid messages (default: the dead-letter topic).
        max_outstanding: flow control, leased messages per stream (>= 1).
        batch_size: messages per store/broker round trip (1..500).
        batch_latency_s: how long a batch waits to fill, in seconds.
        default_tenant: tenant of request messages that name none.
        allow_message_tenant: False refuses request messages that name a tenant.
        release_after_s: close the streams after a pause this long, in seconds (None: never).
        max_lease_s: the client stops extending a message's lease after this, in seconds.
        lease_extension_s: each lease extension (and the stream's ack deadline), in seconds
            (10..600): how soon Pub/Sub redelivers what a crashed bridge held. Google's default
            of 60 s would leave a killed bridge's messages stranded for a minute.
        topics: subscription path -> topic path, to skip ``GetSubscription`` (tests).
        before_ack: :data:`FaultHook` for tests.

    Raises:
        ValueError: ``max_outstanding`` or ``batch_size`` out of range.
        ConfigError: no project to build subscription paths.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        client: Client,
        subscriptions: Sequence[str],
        rules: RuleSet | None = None,
        backpressure: Backpressure | None = None,
        subscriber: pubsub_v1.SubscriberClient | None = None,
        dead_letter: DeadLetterSender | None = None,
        max_outstanding: int = 100,
        batch_size: int = 100,
        batch_latency_s: float = 0.05,
        default_tenant: str = "default",
        allow_message_tenant: bool = True,
        release_after_s: float | None = 30.0,
        max_lease_s: float = 3600.0,
        lease_extension_s: int = 10,
        topics: Mapping[str, str] | None = None,
        before_ack: FaultHook | None = None,
    ) -> None:
        if max_outstanding < 1:
            raise ValueError(f"max_outstanding must be >= 1, got {max_outstanding}")
        if not 1 <= batch_size <= 500:
            raise ValueError(f"batch_size must be 1..500, got {batch_size}")
        if not subscriptions:
            raise ValueError("give at least one subscription")
        self.settings = settings
        self.client = client
        self.subscriptions = [
            settings.replace(events_subscription=s).events_subscription_path()
            for s in dict.fromkeys(subscriptions)
        ]
        self.rules = rules
        self.backpressure = backpressure
        self.max_outstanding = max_outstanding
        self.batch_size = batch_size
        self.batch_latency_s = batch_latency_s
        self.default_tenant = default_tenant
        self.allow_message_tenant = allow_message_tenant
        self.release_after_s = release_after_s
        self.max_lease_s = max_lease_s
        self.lease_extension_s = lease_extension_s
        self._subscriber = subscriber
        self._topics: dict[str, str] = dict(topics or {})
        self._sub_client: pubsub_v1.SubscriberClient | None = None
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._accepting = threading.Event()
        self._counters = Counters()
        self._handler = BatchHandler(
            settings=settings,
            client=client,
            rules=rules,
            counters=self._counters,
            topics=self._topics,  # filled in by run() (GetSubscription)
            dead_letter=dead_letter,
            default_tenant=default_tenant,
            allow_message_tenant=allow_message_tenant,
            before_ack=before_ack,
        )

    # -- public ---------------------------------------------------------------------------------

    def stats(self) -> BridgeStats:
        """A snapshot of the counters."""
        bp = self.backpressure
        counts = self._counters.snapshot()
        return BridgeStats(
            **counts,
            pauses=bp.pauses if bp else 0,
            paused_s=bp.paused_total_s() if bp else 0.0,
        )

    def run(self, stop_event: threading.Event) -> None:
        """Pull, submit and ack until ``stop_event`` is set; then shut down gracefully.

        Raises:
            PubSubError: a subscription does not exist or access is denied.
        """
        sub_client = self._subscriber or subscriber_client(self.settings)
        self._sub_client = sub_client
        streams: dict[str, Any] = {}
        retry_at: dict[str, float] = {}
        try:
            self._resolve_topics(sub_client)
            self._accepting.set()
            _log.info("bridge.started", subscriptions=self.subscriptions)
            while not stop_event.is_set():
                self._keep_streams(sub_client, streams, retry_at)
                batch = self._take_batch(stop_event)
                if batch and self._wait_for_room(batch, streams, stop_event):
                    self._process(batch, stop_event)
        finally:
            self._release(streams, stop_event)
            if self._subscriber is None:
                sub_client.close()
            self._handler.close()
            _log.info("bridge.stopped", **self._counters.snapshot())

    # -- backpressure ---------------------------------------------------------------------------

    def _paused(self) -> bool:
        """Measure now (a failed measurement keeps the last decision) and say whether to wait."""
        bp = self.backpressure
        if bp is None:
            return False
        try:
            bp.update()
        except Exception as exc:
            _log.warning("bridge.backpressure_check_failed", error=repr(exc))
        return bp.paused

    def _wait_for_room(
        self, batch: list[Pending], streams: dict[str, Any], stop_event: threading.Event
    ) -> bool:
        """Hold ``batch`` while paused. True: process it; False: it was nacked (stopping, or
        the pause lasted ``release_after_s`` and the streams were closed until it ends)."""
        interval_s = self.backpressure.check_interval_s if self.backpressure else 0.0
        while self._paused():
            if stop_event.is_set():
                break
            if streams and self._should_release():
                self._release(streams, stop_event, held=batch)
                while self._paused() and not stop_event.wait(interval_s):
                    pass
                return False
            stop_event.wait(interval_s)
        else:
            return True
        # Stopping: the streams close first, then the batch is handed back (see _release).
        self._release(streams, stop_event, held=batch)
        return False

    # -- streams --------------------------------------------------------------------------------

    def _resolve_topics(self, sub_client: pubsub_v1.SubscriberClient) -> None:
        for path in self.subscriptions:
            if path in self._topics:
                continue
            try:
                sub = sub_client.get_subscription(request={"subscription": path}, timeout=30.0)
            except gexc.GoogleAPICallError as exc:
                raise PubSubError(f"subscription {path}: {exc}") from exc
            self._topics[path] = sub.topic

    def _keep_streams(
        self,
        sub_client: pubsub_v1.SubscriberClient,
        streams: dict[str, Any],
        retry_at: dict[str, float],
    ) -> None:
        if not self._accepting.is_set():
            self._accepting.set()
        now = time.monotonic()
        for path in self.subscriptions:
            future = streams.get(path)
            if future is not None and future.done():
                exc = future.exception()
                if isinstance(exc, _FATAL):
                    raise PubSubError(f"streaming pull on {path}: {exc}") from exc
                _log.warning("bridge.stream_ended", subscription=path, error=str(exc))
                del streams[path]
                retry_at[path] = now + random.uniform(0.5, 1.5)
                continue
            if future is None and retry_at.get(path, 0.0) <= now:
                streams[path] = sub_client.subscribe(
                    path,
                    callback=functools.partial(self._on_message, path),
                    flow_control=pubsub_v1.types.FlowControl(
                        max_messages=self.max_outstanding,
                        max_lease_duration=self.max_lease_s,
                        max_duration_per_lease_extension=int(self.lease_extension_s),
                    ),
                    await_callbacks_on_shutdown=True,
                )

    def _should_release(self) -> bool:
        bp = self.backpressure
        return (
            bp is not None
            and self.release_after_s is not None
            and bp.paused_for_s() >= self.release_after_s
        )

    def _release(
        self,
        streams: dict[str, Any],
        stop_event: threading.Event,
        held: Sequence[Pending] = (),
    ) -> None:
        """Close every stream, then hand the messages held here back to Pub/Sub.

        The order matters: nacking first would let Pub/Sub redeliver them at once onto the
        stream being closed, where they would sit leased until their ack deadline. Closed
        first, the stream's own dispatcher is gone, so the held messages are nacked with a
        unary ``ModifyAckDeadline(0)`` (messages that reach the callback while the stream
        closes are nacked by it, through the still-running dispatcher).
        """
        self._accepting.clear()
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
                self._handler.settle(item.message, "nack")
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

    def _on_message(self, subscription: str, message: MessageLike) -> None:
        if not self._accepting.is_set():
            message.nack()
            return
        self._counters.received()
        self._queue.put(Pending(subscription, message))

    def _take_batch(self, stop_event: threading.Event) -> list[Pending]:
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

    def _process(self, batch: list[Pending], stop_event: threading.Event) -> None:
        self._handler.process(batch, stop_event, self._queue.put)
