"""Celery broker URLs: Redis, ``rediss://`` (TLS), Redis Sentinel and RabbitMQ (``amqp://``).

``VBQ_BROKER_URL`` is handed to Celery/kombu as is, except for three things kombu cannot read
from a URL:

- **vbq's Sentinel URL** (``redis+sentinel://h1:26379,h2:26379/mymaster/0``, the form
  ``VBQ_REDIS_URL`` takes, see :mod:`vbq.redisconn`; the broker URL defaults to it): rewritten
  to kombu's ``sentinel://h1:26379;sentinel://h2:26379/0`` with ``master_name`` (and the
  sentinels' own credentials as ``sentinel_kwargs``) in the transport options.

- **Sentinel** (``sentinel://h1:26379;sentinel://h2:26379/0?master_name=mymaster``): kombu
  wants the master's name as a transport option, so vbq takes ``master_name`` out of the query
  and passes it as ``broker_transport_options["master_name"]``. A Sentinel URL without it is a
  :class:`~vbq.errors.ConfigError`.
- **TLS** (``rediss://``): kombu defaults to *not verifying* the server certificate when the
  URL has no ``ssl_cert_reqs``; vbq requires verification unless the URL says otherwise
  (``?ssl_cert_reqs=none`` for a self-signed test server).

``amqp://user:pass@host:5672/vhost`` (RabbitMQ) needs nothing extra.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from vbq.errors import ConfigError
from vbq.redisconn import is_sentinel_url, parse_redis_url

__all__ = ["BrokerOptions", "broker_options"]


@dataclass(frozen=True)
class BrokerOptions:
    """What Celery needs for one broker URL.

    Attributes:
        url: the URL to give Celery (``master_name`` removed for Sentinel).
        transport_options: extra ``broker_transport_options``.
        use_ssl: ``broker_use_ssl`` (None = whatever the URL says).
    """

    url: str
    transport_options: dict[str, Any] = field(default_factory=dict)
    use_ssl: dict[str, Any] | None = None


def broker_options(url: str) -> BrokerOptions:
    """Split ``url`` into what Celery's settings need (see the module docstring).

    Raises:
        ConfigError: a Sentinel URL without ``master_name``, or an unknown scheme.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if is_sentinel_url(url):
        return _vbq_sentinel(url)
    if scheme == "sentinel":
        return _sentinel(url)
    if scheme == "rediss":
        query = url.split("?", 1)[1] if "?" in url else ""
        if "ssl_cert_reqs" in dict(parse_qsl(query)):
            return BrokerOptions(url=url)
        return BrokerOptions(url=url, use_ssl={"ssl_cert_reqs": ssl.CERT_REQUIRED})
    if scheme in {"redis", "amqp", "amqps", "pyamqp", "memory"}:
        return BrokerOptions(url=url)
    raise ConfigError(
        f"VBQ_BROKER_URL scheme {scheme or '(none)'!r} is not supported "
        "(use redis://, rediss://, redis+sentinel://, sentinel:// or amqp://)"
    )


def _sentinel(url: str) -> BrokerOptions:
    # The query (kombu keeps it on the last of the ';'-separated URLs) carries master_name.
    master = ""
    parts: list[str] = []
    for part in url.split(";"):
        base, _, query = part.partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        master = next((v for k, v in pairs if k == "master_name"), master)
        rest = [(k, v) for k, v in pairs if k != "master_name"]
        parts.append(base + (f"?{urlencode(rest)}" if rest else ""))
    if not master:
        raise ConfigError(
            "a sentinel:// VBQ_BROKER_URL needs ?master_name=<name> (the monitored master)"
        )
    return BrokerOptions(url=";".join(parts), transport_options={"master_name": master})


def _vbq_sentinel(url: str) -> BrokerOptions:
    target = parse_redis_url(url)
    auth = ""
    if target.password is not None:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
    parts = [f"sentinel://{auth}{_netloc(host, port)}" for host, port in target.sentinels]
    options: dict[str, Any] = {"master_name": target.master_name}
    sentinel_kwargs = target.sentinel_kwargs()
    options["sentinel_kwargs"] = sentinel_kwargs
    if target.socket_timeout_s is not None:
        options["socket_timeout"] = target.socket_timeout_s
    options["socket_connect_timeout"] = target.socket_connect_timeout_s
    return BrokerOptions(url=";".join(parts) + f"/{target.db}", transport_options=options)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
