"""The effective create rate where people look: ``vbq watch``, ``vbq doctor``, ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from click.testing import CliRunner

from tests.support.services import free_port
from vbq.cli import cli
from vbq.cli.doctor import run_checks
from vbq.metrics_redis import RedisStateCollector
from vbq.quota.adaptive import record_throttled
from vbq.settings import Settings

pytestmark = pytest.mark.integration

P = "vbq-views"


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def _env(redis_url: str) -> dict[str, str]:
    return {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_PROJECT": P,
        "VBQ_LOCATION": "us-central1",
        "VBQ_CREATE_RATE_PER_MIN": "1200",
    }


def test_watch_shows_the_lowered_rate_of_each_pool(r: redis.Redis, redis_url: str) -> None:
    settings = Settings.from_env(_env(redis_url))
    record_throttled(r, P, "europe-west4", settings=settings)
    result = CliRunner(env=_env(redis_url)).invoke(cli, ["watch", "--once", "--recent", "0"])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[2].strip(): line for line in result.stdout.splitlines() if P in line}
    assert set(rows) == {"europe-west4", "us-central1"}
    assert "10.00" in rows["europe-west4"] and "20.00" in rows["europe-west4"]
    assert "10.00" not in rows["us-central1"]


def test_doctor_warns_while_429s_hold_the_rate_down(r: redis.Redis, redis_url: str) -> None:
    dead = f"127.0.0.1:{free_port()}"  # the other checks fail fast; only the rate line matters
    env = {**_env(redis_url), "VBQ_VERTEX_ENDPOINT": f"http://{dead}", "PUBSUB_EMULATOR_HOST": dead}
    (ok,) = [c for c in run_checks(env, timeout_s=1.0) if c.name == "create rate"]
    assert ok.status == "OK" and "us-central1: 20.00/s of 20.00/s" in ok.detail
    record_throttled(r, P, "us-central1", settings=Settings.from_env(env))
    (warn,) = [c for c in run_checks(env, timeout_s=1.0) if c.name == "create rate"]
    assert warn.status == "WARN" and "us-central1: 10.00/s of 20.00/s (1 429s" in warn.detail


def test_scrape_gauges_per_pool(r: redis.Redis, redis_url: str) -> None:
    settings = Settings.from_env(_env(redis_url))
    record_throttled(r, P, "asia-east1", settings=settings)
    families = {f.name: f for f in RedisStateCollector(redis=r, settings=settings).collect()}
    effective = {
        s.labels["location"]: s.value for s in families["vbq_create_rate_effective_per_s"].samples
    }
    assert effective == {"asia-east1": 10.0, "us-central1": 20.0}
    ceiling = families["vbq_create_rate_ceiling_per_s"].samples
    assert {s.value for s in ceiling} == {20.0}
