"""Broker URL handling: Sentinel's master name, TLS verification by default, RabbitMQ as is."""

from __future__ import annotations

import ssl

import pytest

from vbq.broker.url import broker_options
from vbq.errors import ConfigError
from vbq.settings import Settings
from vbq.workers.celery_app import celery_config


def test_sentinel_master_name_moves_to_transport_options() -> None:
    url = "sentinel://:pw@h1:26379;sentinel://:pw@h2:26379/0?master_name=mymaster"
    opts = broker_options(url)
    assert opts.url == "sentinel://:pw@h1:26379;sentinel://:pw@h2:26379/0"
    assert opts.transport_options == {"master_name": "mymaster"}


def test_sentinel_keeps_other_query_parameters() -> None:
    opts = broker_options("sentinel://h1:26379/0?master_name=m&socket_timeout=3")
    assert opts.url == "sentinel://h1:26379/0?socket_timeout=3"


def test_sentinel_without_master_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="master_name"):
        broker_options("sentinel://h1:26379/0")


def test_rediss_verifies_certificates_unless_the_url_says_otherwise() -> None:
    assert broker_options("rediss://:pw@h:6380/0").use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert broker_options("rediss://h:6380/0?ssl_cert_reqs=none").use_ssl is None


@pytest.mark.parametrize("url", ["redis://h:6379/0", "amqp://guest:guest@h:5672/vbq"])
def test_plain_urls_pass_through(url: str) -> None:
    opts = broker_options(url)
    assert (opts.url, opts.transport_options, opts.use_ssl) == (url, {}, None)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ConfigError, match="scheme"):
        broker_options("kafka://h:9092")


def test_celery_config_carries_the_options() -> None:
    settings = Settings(broker_url="sentinel://h1:26379;sentinel://h2:26379/0?master_name=m")
    conf = celery_config(settings)
    assert conf["broker_url"] == "sentinel://h1:26379;sentinel://h2:26379/0"
    assert conf["broker_transport_options"]["master_name"] == "m"
    assert conf["broker_transport_options"]["visibility_timeout"] == settings.visibility_timeout_s
    tls = celery_config(Settings(broker_url="rediss://h:6380/0"))
    assert tls["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}


def test_kombu_accepts_the_sentinel_config() -> None:
    from celery import Celery

    app = Celery("t")
    app.conf.update(celery_config(Settings(broker_url="sentinel://h1:26379/0?master_name=m")))
    conn = app.connection_for_write()
    assert conn.transport_options["master_name"] == "m"
    assert conn.transport_cls == "sentinel"
