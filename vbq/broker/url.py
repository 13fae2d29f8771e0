"""Celery broker URLs: Redis, ``rediss://`` (TLS), Redis Sentinel and RabbitMQ (``amqp://``).

``VBQ_BROKER_URL`` is handed to Celery/kombu as is, except for two things kombu cannot read
from a URL:

- **Sentinel** (``sentinel://h1:26379;sentinel://h2:26379/0?master_name=mymaster``): kombu
  wants the master's name as a transport option, so vbq takes ``master_name`` out of the query
  and passes it as ``broker_transport_options["master_name"]``. A Sentinel URL without it is a
  :class:`~vbq.errors.ConfigError`. (The job store's ``VBQ_REDIS_URL`` is read by redis-py,
  which has no Sentinel URL form: point it at the master through a Sentinel-aware proxy.)
- **TLS** (``rediss://``): kombu defaults to *not verifying* the server certificate when the
  URL has no ``ssl_cert_reqs``; vbq requires verification unless the URL says otherwise
  (``?ssl_cert_reqs=none`` for a self-signed test server).

``amqp://user:pass@host:5672/vhost`` (RabbitMQ) needs nothing extra.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from vbq.errors import ConfigError

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
        "(use redis://, rediss://, sentinel:// or amqp://)"
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
