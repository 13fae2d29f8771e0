"""The Celery configuration: JSON only, acks_late, routes, visibility timeout, any broker."""

from __future__ import annotations

import pytest

from vbq.settings import Settings
from vbq.workers.celery_app import QUEUES, create_app, max_countdown_s


def test_safe_delivery_settings() -> None:
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", visibility_timeout_s=900))
    c = app.conf
    assert c.task_serializer == "json" and c.accept_content == ["json"]
    assert c.task_acks_late is True and c.task_reject_on_worker_lost is True
    assert c.worker_prefetch_multiplier == 1
    assert c.broker_transport_options["visibility_timeout"] == 900
    assert c.broker_url == "redis://127.0.0.1:1/0"  # empty broker_url falls back to Redis
    assert {q.name for q in c.task_queues} == set(QUEUES)
    assert max_countdown_s(Settings(visibility_timeout_s=900)) == 450


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("vbq.submit", "vbq.submit"),
        ("vbq.cancel", "vbq.cancel"),
        ("vbq.poll", "vbq.poll"),
        ("vbq.poll.project", "vbq.poll"),
        ("vbq.sweep", "vbq.maintenance"),
        ("vbq.relay", "vbq.maintenance"),
    ],
)
def test_routes(task: str, queue: str) -> None:
    app = create_app(Settings())
    route = app.amqp.router.route({}, task)
    assert route["queue"].name == queue


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:guest@127.0.0.1:5672//",
        "rediss://:pw@127.0.0.1:6380/0?ssl_cert_reqs=required",
        "redis://127.0.0.1:6379/3",
    ],
)
def test_broker_urls_pass_through(url: str) -> None:
    app = create_app(Settings(broker_url=url, visibility_timeout_s=120))
    assert app.conf.broker_url == url
    assert app.conf.broker_transport_options["visibility_timeout"] == 120


def test_sentinel_broker_keeps_the_visibility_timeout() -> None:
    url = "sentinel://127.0.0.1:26379;sentinel://127.0.0.1:26380/0?master_name=mymaster"
    app = create_app(Settings(broker_url=url, visibility_timeout_s=120))
    options = app.conf.broker_transport_options
    assert options["visibility_timeout"] == 120
    assert "mymaster" in (str(app.conf.broker_url) + str(options.get("master_name", "")))
