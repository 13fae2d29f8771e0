"""Queue depth, oldest wait and share of creates per tenant: the public read, the Prometheus
gauges, ``vbq list --queues`` and ``vbq watch``."""

from __future__ import annotations

import json
import time

import pytest
import redis
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest

from tests.integration.producers.conftest import valid_kwargs
from vbq.cli import cli
from vbq.metrics_redis import RedisStateCollector
from vbq.producers import Client
from vbq.scheduler.stats import scheduler_stats
from vbq.settings import Settings
from vbq.states import SubmissionState as S

pytestmark = pytest.mark.integration


def test_stats_gauges_and_cli(redis_url: str) -> None:
    env = {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_PROJECT": "proj-one",
        "VBQ_TENANT_OVERRIDES": '{"a": {"weight": 3}}',
    }
    settings = Settings.from_env(env)
    client = Client.from_settings(settings)
    client.submit_many([valid_kwargs(i) for i in range(4)], tenant="a", priority="bulk")
    client.submit(**valid_kwargs(1), tenant="a", priority="interactive")
    done = client.submit(**valid_kwargs(2), tenant="b")
    # b's one submission is created (what a worker does): it leaves the queue, counts a create.
    store = client.store
    store.transition(done.submission_id, expected={S.ACCEPTED}, new_state=S.SUBMITTING)  # type: ignore[attr-defined]
    store.transition(  # type: ignore[attr-defined]
        done.submission_id,
        expected={S.SUBMITTING},
        new_state=S.SUBMITTED,
        updates={"job_name": "projects/p/locations/l/batchPredictionJobs/1"},
    )
    time.sleep(0.05)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    rows = {row.tenant: row for row in scheduler_stats(r, policy=settings.tenant_policy())}
    assert rows["a"].queued == {"interactive": 1, "default": 0, "bulk": 4}
    assert rows["a"].oldest_wait_s > 0 and rows["a"].weight == 3
    assert rows["a"].creates_recent == 0 and rows["b"].creates_recent == 1
    assert rows["b"].queued_total == 0 and rows["b"].share == 1.0

    registry = CollectorRegistry()
    registry.register(RedisStateCollector(redis=r))
    text = generate_latest(registry).decode()
    assert 'vbq_scheduler_queued{priority="bulk",tenant="a"} 4.0' in text
    assert 'vbq_scheduler_create_share{tenant="b"} 1.0' in text

    runner = CliRunner(env=env)
    listed = runner.invoke(cli, ["list", "--queues", "--json"])
    assert listed.exit_code == 0, listed.output
    by_tenant = {row["tenant"]: row for row in map(json.loads, listed.output.splitlines())}
    assert by_tenant["a"]["queued"]["bulk"] == 4 and by_tenant["b"]["share"] == 1.0
    watched = runner.invoke(cli, ["watch", "--once"])
    assert watched.exit_code == 0, watched.output
    assert "scheduler queues by tenant" in watched.output
    r.close()
    client.close()
