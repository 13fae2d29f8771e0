"""The overview's quota figures against real Redis state: the scheduler's queues per tenant
(depth by priority, oldest wait, share of creates), each place's configured and effective
create rate (an adaptive rate lowered by a 429) and its slots; a tenant key sees only its own
tenant's row (docs/contracts.md § Console, Quota figures)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from tests.integration.producers.conftest import valid_kwargs
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.producers.console import StoreQuotaSource, Viewer
from vbq.producers.console.overview import build_overview
from vbq.quota.adaptive import record_throttled
from vbq.settings import Settings
from vbq.states import SubmissionState as S

pytestmark = pytest.mark.integration

PROJECT = "proj-one"
US, EU = "us-central1", "europe-west4"
ADMIN = Viewer(key="k", tenant="*")


def make_settings(redis_url: str, **env: str) -> Settings:
    return Settings.from_env(
        {
            "VBQ_REDIS_URL": redis_url,
            "VBQ_BROKER_URL": redis_url,
            "VBQ_PROJECT": PROJECT,
            "VBQ_LOCATION": US,
            "VBQ_CREATE_RATE_PER_MIN": "600",
            "VBQ_CREATE_BURST": "5",
            "VBQ_MAX_IN_FLIGHT": "40",
            **env,
        }
    )


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def _created(client: Client, submission_id: str) -> None:
    """What a worker does to a dispatched submission: it leaves the queue, counts a create."""
    store = client.store
    store.transition(submission_id, expected={S.ACCEPTED}, new_state=S.SUBMITTING)  # type: ignore[attr-defined]
    store.transition(  # type: ignore[attr-defined]
        submission_id,
        expected={S.SUBMITTING},
        new_state=S.SUBMITTED,
        updates={"job_name": f"projects/{PROJECT}/locations/{US}/batchPredictionJobs/1"},
    )


def _cell(html: str, row: str, col: str) -> str:
    """The text of ``<td data-col=col>`` in the row ``data-tenant``/``data-place`` = row."""
    found = re.search(
        rf'<tr data-(?:tenant|place)="{re.escape(row)}">(?:(?!</tr>).)*?'
        rf'<td data-col="{col}"[^>]*>(.*?)</td>',
        html,
        re.S,
    )
    assert found, f"no {col} cell in row {row}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def _live_page(client: Client, tenant: str) -> str:
    key = generate_api_key()
    app = create_app(
        client=client,
        keyring=ApiKeyRing.from_mapping({hash_api_key(key): tenant}),
        max_body_bytes=1 << 20,
    )
    with TestClient(app) as http:
        login = http.post("/console/login", data={"api_key": key}, follow_redirects=False)
        assert login.status_code == 303, login.text
        page = http.get("/console/overview/live")
    assert page.status_code == 200, page.text
    return page.text


def test_queued_backlog_of_two_tenants_shows_their_depths_waits_and_shares(
    redis_url: str, r: redis.Redis
) -> None:
    settings = make_settings(redis_url)
    client = Client.from_settings(settings)
    client.submit_many([valid_kwargs(i) for i in range(3)], tenant="alpha")
    client.submit(**valid_kwargs(3), tenant="alpha", priority="interactive")
    client.submit_many([valid_kwargs(i) for i in range(4, 6)], tenant="beta", priority="bulk")
    sent = client.submit(**valid_kwargs(6), tenant="beta")
    _created(client, sent.submission_id)
    time.sleep(0.05)

    overview = build_overview(r, viewer=ADMIN, quota=StoreQuotaSource(redis=r, settings=settings))
    alpha, beta = overview.queue_of("alpha"), overview.queue_of("beta")
    assert alpha is not None and beta is not None
    assert (alpha.depth, beta.depth) == (4, 2)
    assert alpha.by_priority == {"interactive": 1, "default": 3, "bulk": 0}
    assert beta.by_priority == {"interactive": 0, "default": 0, "bulk": 2}
    assert alpha.oldest_wait_s is not None and 0 < alpha.oldest_wait_s < 60
    assert overview.share_of_creates("beta") == 1.0
    assert overview.share_of_creates("alpha") is None  # nothing created for alpha

    admin = _live_page(client, "*")
    assert _cell(admin, "alpha", "depth") == "4"
    assert _cell(admin, "alpha", "priority") == "interactive 1, default 3"
    assert _cell(admin, "beta", "depth") == "2"
    assert _cell(admin, "beta", "share") == "100 %"
    assert _cell(admin, "alpha", "share") == "\N{EN DASH}"
    # A tenant key: its own row and the deployment-wide figures, nothing of the other tenant.
    mine = _live_page(client, "alpha")
    assert _cell(mine, "alpha", "depth") == "4"
    assert "beta" not in mine
    assert _cell(mine, f"{PROJECT}/{US}", "configured").startswith("600 per minute")
    client.close()


def test_a_lowered_adaptive_rate_and_slots_show_per_place(redis_url: str, r: redis.Redis) -> None:
    settings = make_settings(
        redis_url,
        VBQ_LOCATIONS=f"{US},{EU}",
        VBQ_LOCATION_LIMITS='{"europe-west4": {"create_rate_per_min": 120, "max_in_flight": 7}}',
    )
    lowered = record_throttled(r, PROJECT, EU, settings=settings)
    assert lowered is not None
    r.zadd(f"vbq:slots:{PROJECT}:{EU}", {"job-1": "+inf", "job-2": "+inf"})  # two running jobs
    client = Client.from_settings(settings)

    overview = build_overview(r, viewer=ADMIN, quota=StoreQuotaSource(redis=r, settings=settings))
    places = {(p.project, p.location): p for p in overview.places}
    assert (overview.places[0].project, overview.places[0].location) == (PROJECT, US)  # default
    assert set(places) == {(PROJECT, US), (PROJECT, EU)}
    eu, us = places[(PROJECT, EU)], places[(PROJECT, US)]
    assert eu.rate.configured_per_min == 120
    assert eu.rate.effective_per_min == pytest.approx(lowered * 60, rel=0.01)
    assert eu.rate.effective_per_min < eu.rate.configured_per_min
    assert eu.rate.throttled == 1 and eu.rate.adaptive
    assert us.rate.effective_per_min == us.rate.configured_per_min == 600
    assert (eu.slots.used, eu.slots.limit) == (2, 7)
    assert (us.slots.used, us.slots.limit) == (0, 40)
    assert overview.rate is us.rate and overview.chart_max >= 720

    page = _live_page(client, "someone")  # a tenant key sees every place's figures too
    effective = float(_cell(page, f"{PROJECT}/{EU}", "effective").split()[0].replace(",", ""))
    assert effective < 120
    assert _cell(page, f"{PROJECT}/{EU}", "configured") == "120 per minute, burst 5"
    assert _cell(page, f"{PROJECT}/{EU}", "slots") == "2 of 7"
    assert _cell(page, f"{PROJECT}/{US}", "effective") == "600 per minute"
    client.close()
