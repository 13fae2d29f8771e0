"""Two guards that keep a worker alive on a Redis broker (kombu 5.7 bugs, not ours to avoid).

**Undecodable messages: dead-letter them, never die.** kombu's Redis transport decodes a popped
queue entry outside any error handling (``Channel._brpop_read`` / ``Channel._get`` call
``kombu.utils.json.loads`` on the raw bytes), so one non-JSON entry pushed into a queue list by
anyone with broker access ends the worker with ``Unrecoverable error: JSONDecodeError``. The
entry is already popped when that happens, so the guard can drop it safely: it copies the raw
bytes to the Redis list ``vbq:dead-letter:broker`` (capped) for inspection, logs the reason
without the payload, and tells kombu "no message" (``Empty``), so the worker goes on with the
next one.

**A channel whose connection is gone raises a connection error, not AttributeError.** When the
broker dies under a worker (a SIGKILLed primary behind Sentinel, a plain Redis restart),
Celery's consumer tears the connection down with ``Connection.collect()`` then ``close()``.
``collect()`` closes the channels through ``Transport.close_connection``, which stops at the
first channel whose close raises (restoring its unacked messages needs the dead server), and
then detaches the transport (``transport.client = None``). ``close()`` then closes the default
channel that was skipped; with unacked messages (a prefetched or ETA task) it tries to restore
them, which builds a new Redis pool from ``transport.client.hostname``: ``AttributeError:
'NoneType' object has no attribute 'hostname'``, which Celery does not treat as a connection
error, so the worker logs ``Unrecoverable error`` and exits (issue 17: the Sentinel failover
test). The guard makes building a pool for such a detached channel raise
``redis.exceptions.ConnectionError``: the close ignores it and the consumer reconnects as for
any broker loss. The unacked messages stay in the broker's ``unacked`` hash, and kombu
restores them to their queue once they are older than the visibility timeout (a submission's
message is also re-published by the sweeper), so nothing is lost.

Installed once per process by :mod:`vbq.workers.celery_app`; a no-op for other transports.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from queue import Empty
from typing import Any

import kombu.transport.redis as kombu_redis
import redis

from vbq.logs import get_logger
from vbq.redisconn import client_for

__all__ = ["DEAD_LETTER_KEY", "install"]

DEAD_LETTER_KEY = "vbq:dead-letter:broker"
_KEEP = 1000  # newest entries kept in the dead-letter list
_CONNPARAMS = "_connparams"  # kombu's private Channel method every Redis pool starts from
_log = get_logger("vbq.workers.broker_guard")
_installed = False
_lock = threading.Lock()


def install(dead_letter: Callable[[bytes | str, str], None] | None = None) -> None:
    """Wrap the Redis transport's decoder and its pool parameters (idempotent).

    Args:
        dead_letter: called with ``(raw entry, reason)`` for each undecodable entry; the default
            pushes it to ``vbq:dead-letter:broker`` on the vbq Redis.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _guard_detached_channels()
        original: Callable[..., Any] = kombu_redis.loads  # type: ignore[attr-defined]
        sink = dead_letter or _push_to_redis

        def guarded_loads(raw: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                message = original(raw, *args, **kwargs)
            except (ValueError, TypeError, UnicodeDecodeError) as exc:
                reason = f"undecodable broker message: {type(exc).__name__}: {exc}"[:300]
            else:
                # A queued message is an object; an unacked entry that kombu restores on
                # shutdown is [message, exchange, routing_key]: both are well formed.
                if isinstance(message, dict) or _is_unacked_entry(message):
                    return message
                reason = f"broker message is {type(message).__name__}, not an object"
            _log.error("broker.malformed_message", reason=reason, size=len(raw or b""))
            try:
                sink(raw, reason)
            except Exception as exc:  # the guard itself must never kill the worker
                _log.warning("broker.dead_letter_failed", error=str(exc))
            raise Empty

        kombu_redis.loads = guarded_loads  # type: ignore[attr-defined]
        _installed = True


def _guard_detached_channels() -> None:
    """``Channel._connparams`` raises a connection error once the channel lost its connection.

    Every Redis pool a kombu channel creates (the Sentinel one too) starts from
    ``_connparams``, which reads the broker URL from ``channel.connection.client``: ``None``
    once ``Connection.collect()``/``close()`` detached the transport (module docstring), and
    ``channel.connection`` itself is ``None`` once the channel is closed.
    """
    original: Callable[..., Any] = getattr(kombu_redis.Channel, _CONNPARAMS)

    @functools.wraps(original)
    def guarded_connparams(self: Any, *args: Any, **kwargs: Any) -> Any:
        transport = self.connection
        if transport is None or transport.client is None:
            _log.warning(
                "broker.detached_channel",
                hint="broker connection lost: unacked messages return after the visibility timeout",
            )
            raise redis.exceptions.ConnectionError(
                "broker connection closed: this channel can no longer reconnect"
            )
        return original(self, *args, **kwargs)

    setattr(kombu_redis.Channel, _CONNPARAMS, guarded_connparams)


def _is_unacked_entry(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], dict)
        and all(isinstance(v, str) for v in value[1:])
    )


def _push_to_redis(raw: bytes | str, reason: str) -> None:

    from vbq.settings import Settings

    client = client_for(Settings.from_env(), socket_timeout=2.0)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.lpush(DEAD_LETTER_KEY, raw if isinstance(raw, bytes) else raw.encode())
        pipe.ltrim(DEAD_LETTER_KEY, 0, _KEEP - 1)
        pipe.execute()
    finally:
        client.close()
