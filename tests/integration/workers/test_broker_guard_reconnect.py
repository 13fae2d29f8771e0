"""A worker survives its Redis broker dying under it (issue 17: the Sentinel failover test).

What Celery's consumer does when the broker connection is lost
(``Consumer.on_connection_error_after_connected``: bound the open sockets, ``collect()``, then
``close()``), replayed on a kombu connection shaped like a worker's: a second channel (Celery's
pidbox) and a default channel, both holding an unacknowledged message, the default one with a
BRPOP in flight, against a ``redis-server`` that was SIGKILLed. Without the guard of
:mod:`vbq.workers.broker_guard` the teardown raises ``AttributeError: 'NoneType' object has no
attribute 'hostname'`` (what killed the submit worker in the failover test); with it, it
completes, and once the server is back the unacked messages are restored, none lost.

The scheduler's dispatcher thread publishes on a Celery app of its own
(:func:`vbq.scheduler.dispatcher.start_dispatcher_thread`): its publish path fails while the
broker is down and works again, with the same app and pool, once it is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu.transport.redis as kombu_redis
import pytest
from celery.utils.threads import bound_open_broker_sockets
from kombu import Connection, Consumer, Producer, Queue
from kombu.common import ignore_errors
from kombu.exceptions import OperationalError

from tests.integration.workers.harness import enqueuer, settings_from
from tests.support.services import RedisServer
from vbq.broker.names import QUEUE_SUBMIT
from vbq.workers import broker_guard

pytestmark = [pytest.mark.integration]

_QUEUES = ("guard.default", "guard.pidbox")
_VISIBILITY_TIMEOUT_S = 1


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        yield srv
    finally:
        srv.stop()


def _worker_like_connection(url: str) -> Connection:
    """A connection with two channels holding one unacked message each, a BRPOP in flight."""
    conn = Connection(url, transport_options={"visibility_timeout": _VISIBILITY_TIMEOUT_S})
    default = conn.default_channel
    queues = [Queue(name, routing_key=name) for name in _QUEUES]
    for queue in queues:
        Producer(default).publish({"queue": queue.name}, routing_key=queue.name, declare=[queue])
    received: list[Any] = []
    Consumer(default, [queues[0]], callbacks=[lambda _b, m: received.append(m)]).consume()
    conn.drain_events(timeout=5)  # delivered, not acked (acks_late)
    pidbox = conn.channel()
    assert pidbox.basic_get(queues[1].name, no_ack=False) is not None
    assert received and default.qos._delivered and pidbox.qos._delivered
    default._brpop_start()  # the worker's event loop always has a BRPOP pending
    assert default._in_poll
    return conn


def _consumer_teardown(conn: Connection) -> None:
    """``celery.worker.consumer.Consumer.on_connection_error_after_connected``, in short."""
    bound_open_broker_sockets(conn, 5.0)
    try:
        conn.collect(socket_timeout=5.0)
    except Exception:
        pass
    ignore_errors(conn, conn.close)  # only connection errors are ignored here


def test_unguarded_kombu_dies_with_attribute_error(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pins the kombu bug the guard exists for: if this stops raising, kombu fixed it.
    broker_guard.install()
    unguarded = kombu_redis.Channel._connparams.__wrapped__  # type: ignore[attr-defined]
    monkeypatch.setattr(kombu_redis.Channel, "_connparams", unguarded)
    conn = _worker_like_connection(server.url)
    server.kill()
    with pytest.raises(AttributeError, match="hostname"):
        _consumer_teardown(conn)


def test_guarded_teardown_completes_and_loses_nothing(server: RedisServer) -> None:
    broker_guard.install()
    conn = _worker_like_connection(server.url)
    server.kill()
    _consumer_teardown(conn)  # raised AttributeError before the guard
    assert conn._transport is None and conn._connection is None

    server.start()  # AOF: the queues and the unacked hash are back
    time.sleep(_VISIBILITY_TIMEOUT_S + 0.5)
    conn = Connection(server.url, transport_options={"visibility_timeout": _VISIBILITY_TIMEOUT_S})
    try:
        channel = conn.default_channel
        channel.qos.restore_visible()  # what every consumer does periodically
        bodies = []
        for name in _QUEUES:
            message = channel.basic_get(name, no_ack=True)
            assert message is not None, f"message of {name} lost"
            bodies.append(message.decode())
        assert bodies == [{"queue": name} for name in _QUEUES]
    finally:
        conn.close()


def test_a_closed_channel_raises_a_connection_error(server: RedisServer) -> None:
    # Acknowledging a message of a channel closed by a reconnect builds a pool too.
    broker_guard.install()
    conn = Connection(server.url)
    channel = conn.channel()
    channel.close()
    try:
        with pytest.raises(conn.connection_errors):
            channel._connparams()
    finally:
        conn.close()


def test_dispatcher_publish_recovers_after_the_broker_came_back(server: RedisServer) -> None:
    broker_guard.install()
    publisher = enqueuer(settings_from({"VBQ_REDIS_URL": server.url, "VBQ_PROJECT": "p"}))
    assert publisher.submit_many(["sub-1", "sub-2"]) == 2
    server.kill()
    with pytest.raises(OperationalError):
        publisher.submit_many(["sub-3"])
    server.start()
    assert publisher.submit_many(["sub-3", "sub-4"]) == 2
    client = publisher.due.redis  # the vbq Redis is the broker here
    assert client.llen(QUEUE_SUBMIT) == 4
    assert client.zcard("vbq:submit:due") == 4
