"""Publishing submit and cancel messages (what producers and the tasks themselves call).

Messages are sent by task name (``send_task``, or for batches the same messages built once per
batch, see :func:`_publish_submits`), so publishing needs neither the task code nor the store:
an API process only needs the broker and the vbq Redis (for the due marks the sweeper reads,
see :mod:`vbq.broker.due`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from typing import Any

import kombu.exceptions
import redis
from celery import Celery
from kombu import Producer
from kombu.exceptions import OperationalError
from kombu.utils.uuid import uuid

from vbq.broker.app import capped_countdown
from vbq.broker.due import DueIndex
from vbq.broker.names import QUEUE_CANCEL, QUEUE_SUBMIT, TASK_CANCEL, TASK_SUBMIT, TASK_SWEEP
from vbq.settings import Settings

__all__ = ["Enqueuer"]

_BATCH = 500  # messages per broker pipeline
# What a failed batch flush raises (kombu >= 5.7): not an OperationalError, so it is re-raised
# as one, the error every caller of a publish handles.
_BATCH_ERRORS: tuple[type[Exception], ...] = tuple(
    e for e in (getattr(kombu.exceptions, "BatchPublishError", None),) if e is not None
)


class Enqueuer:
    """Publishes ``vbq.submit`` and ``vbq.cancel`` messages.

    Args:
        celery_app: the app whose broker receives the messages.
        redis_client: the vbq Redis, for the ``vbq:submit:due`` marks.
        settings: ``visibility_timeout_s`` caps every countdown at half of it.
    """

    def __init__(self, *, celery_app: Celery, redis_client: redis.Redis, settings: Settings):
        self.app = celery_app
        self.due = DueIndex(redis_client)
        self.settings = settings

    def submit(self, submission_id: str, *, countdown_s: float = 0.0) -> None:
        """Publish one ``vbq.submit`` message; it runs after ``countdown_s`` seconds.

        Raises:
            redis.RedisError: the vbq Redis is unreachable (published, but not marked: the
                sweeper publishes it again after ``accepted_age_s``; harmless).
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        countdown_s = capped_countdown(self.settings, countdown_s)
        self.app.send_task(
            TASK_SUBMIT, args=[submission_id], countdown=countdown_s or None, queue=QUEUE_SUBMIT
        )
        # Marked only once published: no mark means "never published" to the sweeper.
        self.due.mark([submission_id], time.time() + countdown_s)

    def submit_many(self, submission_ids: Iterable[str]) -> int:
        """Publish one ``vbq.submit`` message per id over one broker connection.

        Returns:
            How many messages were published.

        Raises:
            redis.RedisError: the vbq Redis is unreachable (published, but not marked: the
                sweeper publishes it again after ``accepted_age_s``; harmless).
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        ids = list(submission_ids)
        if not ids:
            return 0
        try:
            with self.app.producer_or_acquire() as producer:
                # kombu >= 5.7 batches publishes on transports that support it (Redis: one
                # pipeline of LPUSHes per _BATCH messages instead of one round trip each);
                # others publish one by one, as before. A failure discards the unflushed rest
                # and raises: the records stay ACCEPTED and the sweeper publishes them (the task
                # is idempotent, so a message of a flush that failed half-way is harmless).
                batch = getattr(producer, "batch", None)
                with batch(max_size=_BATCH) if batch is not None else nullcontext():
                    _publish_submits(self.app, producer, ids)
        except _BATCH_ERRORS as exc:
            raise OperationalError(f"publishing {len(ids)} submit messages failed: {exc}") from exc
        self.due.mark(ids, time.time())
        return len(ids)

    def cancel(self, submission_id: str, *, countdown_s: float = 0.0, attempt: int = 0) -> None:
        """Publish one ``vbq.cancel`` message.

        Raises:
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        self.app.send_task(
            TASK_CANCEL,
            args=[submission_id],
            kwargs={"attempt": attempt},
            countdown=capped_countdown(self.settings, countdown_s) or None,
            queue=QUEUE_CANCEL,
        )

    def send(self, task: str, args_list: Sequence[Sequence[Any]]) -> int:
        """Publish ``task`` once per argument list (routed by ``TASK_ROUTES``).

        Returns:
            How many messages were published.

        Raises:
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        for args in args_list:
            self.app.send_task(task, args=list(args))
        return len(args_list)

    def sweep(self) -> None:
        """Publish one ``vbq.sweep`` message (beat does this on a schedule).

        Raises:
            kombu.exceptions.OperationalError: the broker is unreachable.
        """
        self.app.send_task(TASK_SWEEP)


def _publish_submits(app: Celery, producer: Producer, submission_ids: Sequence[str]) -> None:
    """Publish one ``vbq.submit`` message per id: what ``send_task`` sends, at half its cost.

    ``send_task`` routes, merges options, fires signals and checks the queue's declaration
    for every message; for a run of identical messages that differ only in their argument,
    all of that is done once here. Each message is still built by Celery
    (``create_task_message``: protocol 2, a fresh task id, the parent and root ids of the task
    publishing it, if any) and published by kombu with the exchange, routing key, delivery
    mode, serializer, compression and retry policy that ``send_task`` would use.

    Raises:
        kombu.exceptions.OperationalError: the broker is unreachable (as ``send_task``).
    """
    amqp = app.amqp
    conf = app.conf
    queue = amqp.queues[QUEUE_SUBMIT]
    delivery_mode = queue.exchange.delivery_mode or conf.task_default_delivery_mode
    reply_to = app.thread_oid
    parent = app.current_worker_task
    parent_id = parent.request.id if parent else None
    root_id = (parent.request.root_id or parent.request.id) if parent else None
    # Where kombu sends at once (AMQP), reconnect and retry like send_task; a batched publish
    # (Redis) only buffers, so the retry wrapper would cost 20 % for nothing (the flush raises).
    retry = bool(conf.task_publish_retry) and not getattr(producer, "supports_batch_publish", False)
    # Declared once here; where a publish may reconnect (retry), again after a reconnect, like
    # send_task (kombu caches it per connection, but the check still costs ~0.1 ms a message).
    redeclare = [queue] if retry else None
    connection: Any = producer.connection  # kombu's private helper, as send_task uses it
    with connection._reraise_as_library_errors():
        producer.maybe_declare(queue, retry=retry, **conf.task_publish_retry_policy)
        for sid in submission_ids:
            message = amqp.create_task_message(
                uuid(),
                TASK_SUBMIT,
                [sid],
                {},
                reply_to=reply_to,
                root_id=root_id,
                parent_id=parent_id,
                ignore_result=None,
            )
            producer.publish(
                message.body,
                # Direct exchange and a queue named after its routing key: Celery publishes to
                # the default exchange, routing by queue name (the same on Redis and AMQP).
                exchange="",
                routing_key=queue.name,
                serializer=conf.task_serializer,
                compression=conf.task_compression,
                delivery_mode=delivery_mode,
                headers=message.headers,
                declare=redeclare,
                retry=retry,
                retry_policy=conf.task_publish_retry_policy,
                **message.properties,
            )
