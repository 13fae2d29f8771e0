"""``Enqueuer.submit_many`` publishes exactly the message ``send_task`` would, on a real Redis.

The batch path builds its messages without ``send_task`` (see ``vbq.broker.enqueue``); these
tests pin that shortcut to Celery's own output, so a Celery upgrade that changes the message
fails here rather than in a worker.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import redis

from tests.integration.workers.harness import enqueuer, settings_from
from vbq.broker.enqueue import _publish_submits
from vbq.broker.names import TASK_SUBMIT
from vbq.settings import Settings
from vbq.workers.celery_app import QUEUE_SUBMIT, create_app
from vbq.workers.sweeper import DUE_KEY

pytestmark = [pytest.mark.integration]

# Differ per message by design (fresh uuids, the publishing host and process).
_PER_MESSAGE_HEADERS = {"id", "root_id", "origin"}
_PER_MESSAGE_PROPERTIES = {"correlation_id", "delivery_tag"}


def _pop_all(client: redis.Redis) -> list[dict[str, Any]]:
    raw = client.lrange(QUEUE_SUBMIT, 0, -1)
    client.delete(QUEUE_SUBMIT)
    # LPUSH on publish, BRPOP on consume: the oldest message is the last element.
    return [json.loads(item) for item in reversed(raw)]


def _comparable(message: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in message["headers"].items() if k not in _PER_MESSAGE_HEADERS}
    properties = {
        k: v for k, v in message["properties"].items() if k not in _PER_MESSAGE_PROPERTIES
    }
    return {**message, "headers": headers, "properties": properties}


def test_batch_messages_equal_send_task_messages(redis_url: str) -> None:
    settings = settings_from({"VBQ_REDIS_URL": redis_url, "VBQ_PROJECT": "p"})
    publisher = enqueuer(settings)
    client = redis.Redis.from_url(redis_url)

    publisher.app.send_task(TASK_SUBMIT, args=["sub-a"], queue=QUEUE_SUBMIT)
    (reference,) = _pop_all(client)
    assert publisher.submit_many(["sub-a", "sub-b", "sub-c"]) == 3
    batch = _pop_all(client)

    assert [_comparable(m) for m in batch[:1]] == [_comparable(reference)]
    bodies = [json.loads(base64.b64decode(m["body"])) for m in batch]
    assert [b[0] for b in bodies] == [["sub-a"], ["sub-b"], ["sub-c"]]
    assert all(b[1] == {} for b in bodies)
    ids = [m["headers"]["id"] for m in batch]
    assert len(set(ids)) == 3
    # Protocol 2: the task id is also the root id and the correlation id.
    for message, task_id in zip(batch, ids, strict=True):
        assert message["headers"]["root_id"] == task_id
        assert message["properties"]["correlation_id"] == task_id
        assert message["headers"]["task"] == TASK_SUBMIT
        assert message["properties"]["delivery_info"]["routing_key"] == QUEUE_SUBMIT


def test_batch_marks_every_id_due(redis_url: str) -> None:
    settings = settings_from({"VBQ_REDIS_URL": redis_url, "VBQ_PROJECT": "p"})
    publisher = enqueuer(settings)
    ids = [f"sub-{i}" for i in range(1200)]  # more than one broker pipeline
    before = time.time()
    assert publisher.submit_many(ids) == len(ids)
    client = redis.Redis.from_url(redis_url)
    due = dict(client.zrange(DUE_KEY, 0, -1, withscores=True))
    assert {k.decode() for k in due} == set(ids)
    assert all(before <= at <= time.time() for at in due.values())
    assert client.llen(QUEUE_SUBMIT) == len(ids)
    sent = [json.loads(base64.b64decode(m["body"]))[0][0] for m in _pop_all(client)]
    assert sent == ids
    assert publisher.submit_many([]) == 0


def test_published_from_a_running_task_they_carry_its_parent_and_root(redis_url: str) -> None:
    # The sweeper publishes submits from inside vbq.sweep: like send_task, the messages name it.
    settings = settings_from({"VBQ_REDIS_URL": redis_url, "VBQ_PROJECT": "p"})
    publisher = enqueuer(settings)
    client = redis.Redis.from_url(redis_url)
    seen: dict[str, str] = {}

    @publisher.app.task(name="test.parent")
    def parent_task() -> None:
        seen["id"] = parent_task.request.id
        publisher.app.send_task(TASK_SUBMIT, args=["sub-a"], queue=QUEUE_SUBMIT)
        publisher.submit_many(["sub-a"])

    parent_task.apply(task_id="parent-1")
    reference, batch = _pop_all(client)
    assert seen["id"] == "parent-1"
    for message in (reference, batch):
        assert message["headers"]["parent_id"] == "parent-1"
        assert message["headers"]["root_id"] == "parent-1"
    assert _comparable(batch) == _comparable(reference)


def test_on_a_transport_without_batches_the_messages_are_the_same() -> None:
    # kombu's in-memory transport publishes at once, as AMQP does (the retrying path).
    settings = Settings(redis_url="redis://127.0.0.1:1/0", broker_url="memory://", project="p")
    app = create_app(settings)
    with app.producer_or_acquire() as producer:
        assert not producer.supports_batch_publish
        app.send_task(TASK_SUBMIT, args=["sub-a"], queue=QUEUE_SUBMIT, producer=producer)
        _publish_submits(app, producer, ["sub-a", "sub-b"])
    messages = []
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(QUEUE_SUBMIT)
        for _ in range(3):
            got = queue.get(timeout=5)
            messages.append(
                {"headers": dict(got.headers), "properties": dict(got.properties), "body": got.body}
            )
            got.ack()
        queue.close()
    reference, first, second = messages
    assert _comparable(first) == _comparable(reference)
    assert json.loads(second["body"])[0] == ["sub-b"]
