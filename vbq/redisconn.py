"""Redis clients built from settings: the one place vbq turns a URL into a ``redis.Redis``.

Two URL forms are accepted for ``VBQ_REDIS_URL`` (and, through :mod:`vbq.broker.url`, for
``VBQ_BROKER_URL``):

- ``redis://``, ``rediss://``, ``unix://``: one server, read by :meth:`redis.Redis.from_url`
  exactly as before (redis-py's own default retry of 3 attempts applies).
- ``redis+sentinel://[[user]:password@]host:port[,host:port...]/master_name[/db][?options]``:
  a primary and its replicas watched by Redis Sentinel. The hosts are the *sentinels*; the
  client asks them for the current primary on every new connection, so after a failover the
  next connection goes to the promoted replica. ``user``/``password`` are the primary's
  credentials; the sentinels' own, when they require auth, are the query options
  ``sentinel_username`` and ``sentinel_password``. Other query options: ``socket_timeout`` and
  ``socket_connect_timeout`` (seconds, for the primary's connections).

With Sentinel, every command rides out a failover: a connection error, a timeout or a
``READONLY`` reply from a demoted primary closes the connection and the command is sent again
with jittered backoff (50 ms doubling to 1 s) for at least ``failover_timeout_s`` seconds
(``VBQ_REDIS_FAILOVER_TIMEOUT_S``, default 30; Sentinel needs ``down-after-milliseconds`` plus
an election, a few seconds, to promote a replica). Only then does the caller see
``redis.ConnectionError``. Resending is safe for vbq: every write is an idempotent Lua script
keyed by a deterministic id or a compare-and-set (a resent transition that already happened
reports a :class:`~vbq.errors.StateConflictError`, which callers already treat as "done").

Durability of acknowledged writes is the store's concern (``WAIT``, see
docs/contracts.md § Redis connections and failover); this module only connects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

import redis as redis_lib
from redis.backoff import EqualJitterBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from vbq.errors import ConfigError
from vbq.settings import Settings

__all__ = [
    "SENTINEL_SCHEME",
    "RedisTarget",
    "client_for",
    "connect",
    "failover_retry",
    "is_sentinel_url",
    "parse_redis_url",
]

SENTINEL_SCHEME = "redis+sentinel"
"""URL scheme of a Sentinel-watched primary (see the module docstring)."""

DEFAULT_FAILOVER_TIMEOUT_S = 30.0
_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 1.0
_DEFAULT_SENTINEL_PORT = 26379
_SECONDS_OPTIONS = ("socket_timeout", "socket_connect_timeout")
_KNOWN_OPTIONS = {"sentinel_username", "sentinel_password", *_SECONDS_OPTIONS}


@dataclass(frozen=True)
class RedisTarget:
    """Where a Sentinel URL points (``parse_redis_url``'s result).

    Attributes:
        sentinels: ``(host, port)`` of every sentinel, in URL order.
        master_name: the name the sentinels monitor the primary under.
        db: database number.
        username: the primary's user (None = default user).
        password: the primary's password (None = no auth).
        sentinel_username: the sentinels' user (None = default user).
        sentinel_password: the sentinels' password (None = no auth).
        socket_timeout_s: read/write timeout of the primary's connections (None = none).
        socket_connect_timeout_s: connect timeout of the primary's connections, seconds.
    """

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    socket_timeout_s: float | None = None
    socket_connect_timeout_s: float | None = 5.0

    def sentinel_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments for the sentinels themselves."""
        out: dict[str, Any] = {"socket_connect_timeout": self.socket_connect_timeout_s}
        out["socket_timeout"] = self.socket_connect_timeout_s
        if self.sentinel_username:
            out["username"] = self.sentinel_username
        if self.sentinel_password:
            out["password"] = self.sentinel_password
        return out


def is_sentinel_url(url: str) -> bool:
    """True when ``url`` uses the ``redis+sentinel://`` scheme."""
    return url.split("://", 1)[0].lower() == SENTINEL_SCHEME


def parse_redis_url(url: str) -> RedisTarget:
    """Read a ``redis+sentinel://`` URL (see the module docstring).

    Raises:
        ConfigError: another scheme, no sentinel host, no master name, a bad port, db or
            option (the message names the part and never contains the password).
    """
    if not is_sentinel_url(url):
        raise ConfigError(f"not a {SENTINEL_SCHEME}:// URL")
    rest = url.split("://", 1)[1]
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    username: str | None = None
    password: str | None = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password and secret else None
    sentinels = tuple(_host_port(part) for part in netloc.split(",") if part.strip())
    if not sentinels:
        raise ConfigError(f"a {SENTINEL_SCHEME}:// URL needs at least one sentinel host:port")
    segments = [unquote(s) for s in path.split("/") if s]
    if not segments:
        raise ConfigError(
            f"a {SENTINEL_SCHEME}:// URL needs the master name as its path: "
            f"{SENTINEL_SCHEME}://host:26379/<master_name>[/db]"
        )
    if len(segments) > 2:
        raise ConfigError(f"{SENTINEL_SCHEME}:// URL path must be /<master_name>[/db]")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ConfigError(f"{SENTINEL_SCHEME}:// URL database must be a number")
        db = int(segments[1])
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - _KNOWN_OPTIONS)
    if unknown:
        raise ConfigError(
            f"{SENTINEL_SCHEME}:// URL has unknown options {unknown} "
            f"(known: {sorted(_KNOWN_OPTIONS)})"
        )
    timeouts = {name: _seconds(name, options.get(name)) for name in _SECONDS_OPTIONS}
    connect_timeout = timeouts["socket_connect_timeout"]
    return RedisTarget(
        sentinels=sentinels,
        master_name=segments[0],
        db=db,
        username=username,
        password=password,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password") or None,
        socket_timeout_s=timeouts["socket_timeout"],
        socket_connect_timeout_s=5.0 if connect_timeout is None else connect_timeout,
    )


def failover_retry(failover_timeout_s: float = DEFAULT_FAILOVER_TIMEOUT_S) -> Retry:
    """The retry policy of Sentinel clients: jittered backoff from 50 ms to 1 s, for at least
    ``failover_timeout_s`` seconds in total.

    Retries on ``ConnectionError`` and ``TimeoutError`` (a ``READONLY`` reply from a demoted
    primary arrives as a ``ConnectionError`` from redis-py's Sentinel connection).
    """
    # EqualJitterBackoff sleeps at least half its step: steps 0.05, 0.1, ... 1 s; after the
    # first five (>= 0.78 s in total) every retry sleeps >= 0.5 s.
    warmup = 5
    retries = warmup + max(0, math.ceil((failover_timeout_s - 0.78) / (_BACKOFF_CAP_S / 2)))
    return Retry(
        EqualJitterBackoff(cap=_BACKOFF_CAP_S, base=_BACKOFF_BASE_S),
        retries,
        supported_errors=(redis_lib.ConnectionError, redis_lib.TimeoutError),
    )


def connect(
    url: str,
    *,
    decode_responses: bool = False,
    failover_timeout_s: float = DEFAULT_FAILOVER_TIMEOUT_S,
    **kwargs: Any,
) -> redis_lib.Redis:
    """A Redis client for ``url`` (``redis://``, ``rediss://``, ``unix://`` or
    ``redis+sentinel://``), with its own connection pool. Never connects here.

    Args:
        decode_responses: replies as ``str`` instead of ``bytes``.
        failover_timeout_s: Sentinel only: how long a command keeps retrying while a replica
            is promoted, in seconds (``Settings.redis_failover_timeout_s``).
        **kwargs: passed to redis-py (``socket_timeout``, ``health_check_interval``, ...);
            they win over the URL's options.

    Raises:
        ConfigError: a malformed ``redis+sentinel://`` URL.
    """
    if not is_sentinel_url(url):
        return redis_lib.Redis.from_url(url, decode_responses=decode_responses, **kwargs)
    target = parse_redis_url(url)
    master_kwargs: dict[str, Any] = {
        "db": target.db,
        "username": target.username,
        "password": target.password,
        "socket_timeout": target.socket_timeout_s,
        "socket_connect_timeout": target.socket_connect_timeout_s,
        "decode_responses": decode_responses,
        "retry": failover_retry(failover_timeout_s),
        "connection_class": FailoverConnection,
        **kwargs,
    }
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=target.sentinel_kwargs())
    client: redis_lib.Redis = sentinel.master_for(target.master_name, **master_kwargs)
    return client


def client_for(
    settings: Settings, *, url: str | None = None, decode_responses: bool = False, **kwargs: Any
) -> redis_lib.Redis:
    """A client for ``settings.redis_url`` (or ``url``), with the settings' failover timeout.

    Raises:
        ConfigError: a malformed ``redis+sentinel://`` URL.
    """
    return connect(
        url or settings.redis_url,
        decode_responses=decode_responses,
        failover_timeout_s=settings.redis_failover_timeout_s,
        **kwargs,
    )


class FailoverConnection(SentinelManagedConnection):  # type: ignore[misc]
    """A Sentinel-managed connection that asks the sentinels again on *every* reconnect.

    redis-py (8.2) reconnects a connection that broke in the middle of a command through
    ``connect_check_health``, which its ``SentinelManagedConnection`` does not override: the
    retry then dials the dead primary's address until the retries run out. Here that path
    goes through ``connect()``, which discovers the current primary first.
    """

    _discovering = False

    def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if self._sock or self._discovering:
            super().connect_check_health(
                check_health=check_health, retry_socket_connect=retry_socket_connect
            )
            return
        self._discovering = True
        try:
            self.connect()  # type: ignore[no-untyped-call]  # discovers the primary, calls back
        finally:
            self._discovering = False


def _host_port(part: str) -> tuple[str, int]:
    host, _, port = part.strip().rpartition(":")
    if not host:
        host, port = port, str(_DEFAULT_SENTINEL_PORT)
    host = host.strip("[]")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{SENTINEL_SCHEME}:// URL has a bad sentinel port in {part!r}")
    return host, int(port)


def _seconds(name: str, raw: str | None) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{SENTINEL_SCHEME}:// URL option {name} must be seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{SENTINEL_SCHEME}:// URL option {name} must be > 0 seconds")
    return value
