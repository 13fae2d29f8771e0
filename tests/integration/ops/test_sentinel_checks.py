"""Readiness and ``vbq doctor`` checks against a ``redis+sentinel://`` URL (real sentinels)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sentinel import MASTER_NAME, SentinelRedis
from tests.support.services import free_port
from vbq.readiness import broker_check, redis_check
from vbq.redisconn import connect

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelRedis]:
    group = SentinelRedis(Path(tmp_path_factory.mktemp("sentinel"))).start()
    yield group
    group.stop()


def test_client_reaches_the_primary_through_the_sentinels(sentinel: SentinelRedis) -> None:
    client = connect(sentinel.url, decode_responses=True)
    client.set("vbq:test:sentinel", "x")
    assert client.info("server")["tcp_port"] == sentinel.primary_port()
    assert client.get("vbq:test:sentinel") == "x"
    client.close()


def test_redis_and_broker_checks_pass(sentinel: SentinelRedis) -> None:
    redis_check(sentinel.url, timeout_s=2.0)()
    broker_check(sentinel.url, timeout_s=2.0)()


def test_checks_fail_fast_without_sentinels() -> None:
    dead = f"redis+sentinel://127.0.0.1:{free_port()}/{MASTER_NAME}/0"
    with pytest.raises(Exception):
        redis_check(dead, timeout_s=0.5)()
    with pytest.raises(Exception):
        broker_check(dead, timeout_s=0.5)()
