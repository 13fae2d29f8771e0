"""``redis+sentinel://`` URLs, the Sentinel settings and the broker URL built from them."""

from __future__ import annotations

import pytest
import redis

from vbq.broker.app import celery_config
from vbq.broker.url import broker_options
from vbq.errors import ConfigError, ReplicationTimeoutError
from vbq.redaction import redact_url
from vbq.redisconn import (
    FailoverConnection,
    RedisTarget,
    client_for,
    connect,
    failover_retry,
    is_sentinel_url,
    parse_redis_url,
)
from vbq.settings import Settings
from vbq.store.durability import ReplicaWait

URL = "redis+sentinel://s1:26379,s2:26380,[::1]:26381/mymaster/2"


def test_parse_hosts_master_and_db() -> None:
    target = parse_redis_url(URL)
    assert target == RedisTarget(
        sentinels=(("s1", 26379), ("s2", 26380), ("::1", 26381)), master_name="mymaster", db=2
    )


def test_parse_defaults_port_and_db() -> None:
    target = parse_redis_url("redis+sentinel://s1/m")
    assert target.sentinels == (("s1", 26379),)
    assert target.db == 0
    assert target.password is None


def test_parse_credentials_and_options() -> None:
    target = parse_redis_url(
        "redis+sentinel://app:p%40ss@s1:1,s2:2/m?sentinel_password=sp&sentinel_username=su"
        "&socket_timeout=2.5&socket_connect_timeout=0.5"
    )
    assert (target.username, target.password) == ("app", "p@ss")
    assert (target.sentinel_username, target.sentinel_password) == ("su", "sp")
    assert (target.socket_timeout_s, target.socket_connect_timeout_s) == (2.5, 0.5)
    assert target.sentinel_kwargs() == {
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
        "username": "su",
        "password": "sp",
    }


def test_parse_password_only() -> None:
    target = parse_redis_url("redis+sentinel://:secret@s1:1/m")
    assert (target.username, target.password) == (None, "secret")


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("redis+sentinel:///m", "sentinel host"),
        ("redis+sentinel://s1:26379", "master name"),
        ("redis+sentinel://s1:26379/", "master name"),
        ("redis+sentinel://s1:99999/m", "bad sentinel port"),
        ("redis+sentinel://s1:x/m", "bad sentinel port"),
        ("redis+sentinel://s1/m/db1", "database"),
        ("redis+sentinel://s1/m/0/extra", "path"),
        ("redis+sentinel://s1/m?master_name=x", "unknown options"),
        ("redis+sentinel://s1/m?socket_timeout=-1", "socket_timeout"),
        ("redis+sentinel://s1/m?socket_timeout=abc", "socket_timeout"),
        ("redis://h:1/0", r"not a redis\+sentinel"),
    ],
)
def test_parse_rejects(url: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        parse_redis_url(url)


def test_errors_never_show_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        parse_redis_url("redis+sentinel://u:topsecret@s1:99999/m")
    assert "topsecret" not in str(info.value)
    assert "topsecret" not in redact_url("redis+sentinel://u:topsecret@s1:1,s2:2/m")


def test_is_sentinel_url() -> None:
    assert is_sentinel_url("REDIS+SENTINEL://s/m")
    assert not is_sentinel_url("redis://h/0")
    assert not is_sentinel_url("sentinel://h:26379")


def test_plain_url_is_redis_py_from_url() -> None:
    client = connect("redis://127.0.0.1:1/3", decode_responses=True, socket_timeout=1.5)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == (1, 3, 1.5)
    assert kwargs["decode_responses"] is True
    assert client.connection_pool.connection_class is not FailoverConnection


def test_sentinel_client_is_managed_with_failover_retry() -> None:
    client = connect("redis+sentinel://:pw@127.0.0.1:1/m/4", failover_timeout_s=10.0)
    pool = client.connection_pool
    assert pool.connection_class is FailoverConnection
    assert pool.service_name == "m"
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (4, "pw")
    retry = pool.connection_kwargs["retry"]
    assert retry.get_retries() == failover_retry(10.0).get_retries()
    # Connecting needs a sentinel: none listens on port 1, so the command fails (after
    # retrying) with a ConnectionError, never a hang.
    quick = connect("redis+sentinel://127.0.0.1:1/m", failover_timeout_s=0.0)
    with pytest.raises(redis.ConnectionError):
        quick.ping()


def test_failover_retry_covers_the_timeout() -> None:
    # EqualJitterBackoff sleeps at least half its step; the minimum total must reach the budget.
    for budget in (0.0, 1.0, 5.0, 30.0):
        retry = failover_retry(budget)
        steps = [min(1.0, 0.05 * 2**n) / 2 for n in range(1, retry.get_retries() + 1)]
        assert sum(steps) >= budget


def test_client_for_uses_settings() -> None:
    settings = Settings.from_env(
        {"VBQ_REDIS_URL": "redis+sentinel://127.0.0.1:1/m", "VBQ_REDIS_FAILOVER_TIMEOUT_S": "3"}
    )
    client = client_for(settings, decode_responses=True)
    assert client.connection_pool.connection_kwargs["retry"].get_retries() == (
        failover_retry(3.0).get_retries()
    )
    other = client_for(settings, url="redis://127.0.0.1:2/0")
    assert other.connection_pool.connection_kwargs["port"] == 2


def test_settings_wait_defaults_follow_the_url() -> None:
    sentinel = Settings.from_env({"VBQ_REDIS_URL": URL})
    assert sentinel.redis_wait_replicas == 1
    assert sentinel.redis_wait_timeout_s == 2.0
    assert sentinel.broker_url == URL
    plain = Settings.from_env({"VBQ_REDIS_URL": "redis://h:1/0"})
    assert plain.redis_wait_replicas == 0
    chosen = Settings.from_env(
        {"VBQ_REDIS_URL": URL, "VBQ_REDIS_WAIT_REPLICAS": "0", "VBQ_REDIS_WAIT_TIMEOUT_S": "0.5"}
    )
    assert (chosen.redis_wait_replicas, chosen.redis_wait_timeout_s) == (0, 0.5)
    with pytest.raises(ConfigError, match="VBQ_REDIS_WAIT_TIMEOUT_S"):
        Settings.from_env({"VBQ_REDIS_WAIT_TIMEOUT_S": "0"})
    with pytest.raises(ConfigError, match="VBQ_REDIS_WAIT_REPLICAS"):
        Settings.from_env({"VBQ_REDIS_WAIT_REPLICAS": "-1"})
    assert (
        "VBQ_REDIS_FAILOVER_TIMEOUT_S"
        not in Settings.from_env({"VBQ_REDIS_FAILOVER_TIMEOUT_S": "5"}).extra
    )


def test_broker_url_from_vbq_sentinel_url() -> None:
    opts = broker_options("redis+sentinel://u:p%40w@s1:1,s2:2/mymaster/3?sentinel_password=sp")
    assert opts.url == "sentinel://u:p%40w@s1:1;sentinel://u:p%40w@s2:2/3"
    assert opts.transport_options["master_name"] == "mymaster"
    assert opts.transport_options["sentinel_kwargs"]["password"] == "sp"
    config = celery_config(Settings.from_env({"VBQ_REDIS_URL": URL}))
    assert (
        config["broker_url"] == "sentinel://s1:26379;sentinel://s2:26380;sentinel://[::1]:26381/2"
    )
    assert config["broker_transport_options"]["master_name"] == "mymaster"
    assert config["broker_transport_options"]["visibility_timeout"] == 3600


def test_broker_url_rejects_bad_vbq_sentinel_url() -> None:
    with pytest.raises(ConfigError, match="master name"):
        broker_options("redis+sentinel://s1:1")


class _Pipe:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def publish(self, *args: object) -> None:
        self.calls.append(("publish", args))

    def wait(self, *args: object) -> None:
        self.calls.append(("wait", args))


def test_replica_wait_appends_barrier_then_wait() -> None:
    pipe = _Pipe()
    wait = ReplicaWait(replicas=2, timeout_s=0.25)
    assert wait.append(pipe) == 2  # type: ignore[arg-type]
    assert pipe.calls == [("publish", ("vbq:replication:barrier", "")), ("wait", (2, 250))]
    assert wait.check(["r1", "r2", 0, 2]) == ["r1", "r2"]
    with pytest.raises(ReplicationTimeoutError) as info:
        wait.check(["r1", 0, 1])
    assert (info.value.wanted, info.value.confirmed, info.value.retryable) == (2, 1, True)


def test_replica_wait_disabled_adds_nothing() -> None:
    pipe = _Pipe()
    wait = ReplicaWait(replicas=0, timeout_s=1.0)
    assert wait.append(pipe) == 0  # type: ignore[arg-type]
    assert pipe.calls == []
    assert wait.check(["r1"]) == ["r1"]


def test_redact_sentinel_url() -> None:
    url = "redis+sentinel://app:topsecret@s1:1,s2:2/m/0?sentinel_password=alsosecret"
    redacted = redact_url(url)
    assert redacted.startswith("redis+sentinel://app:***@s1:1,s2:2/m/0?sentinel_password=")
    assert "topsecret" not in redacted
    assert "alsosecret" not in redacted
    assert redact_url("redis://:pw@[::1]:6379/0") == "redis://:***@[::1]:6379/0"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert "topsecret" not in str(Settings.from_env({"VBQ_REDIS_URL": url}).redacted())


def test_unacknowledged_submission_is_503_on_both_http_surfaces() -> None:
    from fastapi.testclient import TestClient

    from vbq.producers.api.vertex.errors import response_for

    exc = ReplicationTimeoutError(wanted=1, confirmed=0, timeout_s=2.0)
    google = response_for(exc)
    assert google.status_code == 503
    assert google.headers["retry-after"] == "1"

    from vbq.producers import Client
    from vbq.producers.api import create_app
    from vbq.producers.api.auth import ApiKeyRing

    settings = Settings(redis_url="redis://127.0.0.1:1/0", project="proj-a")
    app = create_app(
        client=Client.from_settings(settings),
        keyring=ApiKeyRing.from_mapping({}),
        max_body_bytes=1024,
    )

    @app.get("/_raise")
    def _raise() -> None:
        raise exc

    with TestClient(app, raise_server_exceptions=False) as http:
        resp = http.get("/_raise")
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "1"
