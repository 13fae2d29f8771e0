"""The subscriber runtime: streaming pull, dedupe, run handlers, ack or nack.

:class:`Subscriber` pulls with Google's streaming pull and hands each message, in the client's
thread pool, to :class:`~vbq.subscribers.processing.EventProcessor` (parse, dedupe in the inbox,
run the handlers, dead-letter malformed messages, ack or nack); the push endpoint
(:mod:`vbq.subscribers.push`) uses the same processor.

Backoff for failing handlers is Pub/Sub's job: a nack makes the message available again and the
subscription's retry policy (``vbq subscribe --create`` sets 1 s … 60 s exponential) spaces the
redeliveries; after 5 deliveries the dead-letter policy moves it to the dead-letter topic. The
runtime never sleeps on a failed message itself (that would hold a flow-control slot).

Shutdown (SIGTERM in ``vbq subscribe``): stop pulling, nack messages not yet started, let
running handlers finish within ``Settings.shutdown_grace_s``, then nack whatever still runs
(their claims stop being renewed and expire, so a redelivery elsewhere takes over).
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

import redis as redis_lib
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

from vbq.errors import PubSubError
from vbq.logs import get_logger
from vbq.pubsub.admin import subscriber_client
from vbq.pubsub.messages import DeadLetterSender, MessageLike
from vbq.settings import Settings
from vbq.subscribers.inbox import Inbox
from vbq.subscribers.processing import EventProcessor, SubscriberStats
from vbq.subscribers.registry import HandlerRegistry

__all__ = ["Subscriber", "SubscriberStats"]

_log = get_logger("vbq.subscriber")

# The stream cannot recover from these; anything else is retried by re-subscribing.
_FATAL = (gexc.NotFound, gexc.PermissionDenied, gexc.InvalidArgument, gexc.Unauthenticated)


class Subscriber:
    """Streaming-pull subscriber that runs registered handlers once per event id per group.

    Args:
        settings: subscription, flow control (``subscriber_max_messages``), inbox TTL,
            shutdown grace.
        redis: a ``redis.Redis`` client for the inbox.
        registry: the handlers to run (see :func:`vbq.subscribers.load_handlers`).
        subscription: subscription id or path (default ``settings.events_subscription``).
        group: subscriber group for dedupe (default: the subscription id). Processes in one
            group run each event once between them.
        client: a ``SubscriberClient`` (default: built from settings).
        dead_letter: sink for malformed messages (default: the dead-letter topic).
        threads: concurrent handler calls in this process (the pull's thread pool is larger:
            one thread per message flow control admits, ``subscriber_max_messages``).
        claim_lease_s: inbox claim lease in seconds; renewed every third of it while running.
        busy_wait_s: how long a message whose event another process is handling waits for
            that claim to end before it is nacked, in seconds (default: twice the lease).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        redis: redis_lib.Redis,
        registry: HandlerRegistry,
        subscription: str | None = None,
        group: str | None = None,
        client: pubsub_v1.SubscriberClient | None = None,
        dead_letter: DeadLetterSender | None = None,
        threads: int = 10,
        claim_lease_s: float = 30.0,
        busy_wait_s: float | None = None,
    ) -> None:
        sub_settings = (
            settings.replace(events_subscription=subscription) if subscription else settings
        )
        self.settings = settings
        self.subscription_path = sub_settings.events_subscription_path()
        self.group = group or self.subscription_path.rsplit("/", 1)[-1]
        self.registry = registry
        self._client = client
        self._threads = threads
        self.processor = EventProcessor(
            settings=settings,
            redis=redis,
            registry=registry,
            subscription_path=self.subscription_path,
            group=self.group,
            dead_letter=dead_letter,
            claim_lease_s=claim_lease_s,
            busy_wait_s=busy_wait_s,
            handler_slots=threads,
        )

    # -- public ---------------------------------------------------------------------------------

    @property
    def inbox(self) -> Inbox:
        """The group's inbox."""
        return self.processor.inbox

    def stats(self) -> SubscriberStats:
        """A snapshot of the counters."""
        return self.processor.stats()

    def handle_message(self, message: MessageLike) -> None:
        """Process one message (the streaming-pull callback); see
        :meth:`EventProcessor.handle`. Never raises."""
        self.processor.handle(message)

    def run(self, stop_event: threading.Event) -> int:
        """Pull and handle until ``stop_event`` is set; then shut down gracefully.

        Returns:
            How many messages were still being handled when the grace period ended (they were
            nacked; their threads may still run, so a CLI should exit the process hard).

        Raises:
            PubSubError: the subscription does not exist or access is denied.
        """
        client = self._client or subscriber_client(self.settings)
        renewer = threading.Thread(
            target=self.processor.renew_claims,
            args=(stop_event,),
            name="vbq-inbox-renew",
            daemon=True,
        )
        renewer.start()
        backoff_s = 1.0
        _log.info("subscriber.started", subscription=self.subscription_path, group=self.group)
        try:
            while not stop_event.is_set():
                future = self._subscribe(client)
                while not stop_event.wait(0.2) and not future.done():
                    pass
                if stop_event.is_set():
                    return self._shutdown(future)
                exc = future.exception()
                if isinstance(exc, _FATAL):
                    raise PubSubError(f"streaming pull on {self.subscription_path}: {exc}") from exc
                _log.warning("subscriber.stream_ended", error=str(exc), retry_in_s=backoff_s)
                stop_event.wait(random.uniform(backoff_s / 2, backoff_s))
                backoff_s = min(backoff_s * 2, 10.0)
            return 0
        finally:
            if self._client is None:
                client.close()
            _log.info("subscriber.stopped", **self.processor.counts())

    def close(self) -> None:
        """Close the dead-letter publisher if one was created."""
        self.processor.close()

    # -- streaming pull -------------------------------------------------------------------------

    def _subscribe(self, client: pubsub_v1.SubscriberClient) -> Any:
        # One thread per message that flow control lets in: a message waiting on the inbox's
        # Redis round trips (claim, done mark) holds a thread but no handler slot, so the inbox
        # latency is paid concurrently (Redis group-commits their writes) and at most
        # ``threads`` handlers run at once.
        workers = max(self._threads, self.settings.subscriber_max_messages)
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vbq-handler")
        return client.subscribe(
            self.subscription_path,
            callback=self.handle_message,
            flow_control=pubsub_v1.types.FlowControl(
                max_messages=self.settings.subscriber_max_messages
            ),
            scheduler=ThreadScheduler(executor=executor),
            # Running handlers finish (and their acks are sent) before the stream closes.
            await_callbacks_on_shutdown=True,
        )

    def _shutdown(self, future: Any) -> int:
        self.processor.stop()
        future.cancel()  # stops pulling; queued messages are nacked by the client
        grace_s = self.settings.shutdown_grace_s
        try:
            future.result(timeout=grace_s)
        except FutureTimeoutError:
            # Stop renewing: the claims expire and a redelivery elsewhere takes over.
            late = self.processor.abandon()
            for message in late:
                message.nack()
            _log.warning("subscriber.grace_expired", grace_s=grace_s, nacked=len(late))
            return len(late)
        except Exception as exc:
            _log.info("subscriber.stream_closed", error=str(exc))
        return 0
