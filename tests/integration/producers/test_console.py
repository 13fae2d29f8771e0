"""The web console through Starlette's TestClient, on a real Redis store and broker: sessions,
tenant scoping, pages, filters, cancel with CSRF, and the admin key on the JSON API."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.integration.producers.conftest import broker_messages, valid_kwargs
from vbq.events import JobEvent
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.producers.console.render import STATIC_DIR
from vbq.settings import Settings
from vbq.states import SubmissionState as S

pytestmark = pytest.mark.integration

KEY_A = generate_api_key()
KEY_B = generate_api_key()
KEY_ADMIN = generate_api_key()


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    c = Client.from_settings(settings)
    yield c
    c.close()


@pytest.fixture
def app(client: Client) -> TestClient:
    keyring = ApiKeyRing.from_mapping(
        {hash_api_key(KEY_A): "team-a", hash_api_key(KEY_B): "team-b", hash_api_key(KEY_ADMIN): "*"}
    )
    return TestClient(
        create_app(client=client, keyring=keyring, max_body_bytes=64 * 1024),
        raise_server_exceptions=True,
    )


def login(app: TestClient, key: str) -> TestClient:
    resp = app.post(
        "/console/login", data={"api_key": key, "next": "/console"}, follow_redirects=False
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/console"
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    return app


def seed(client: Client) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {"team-a": [], "team-b": []}
    for i in range(6):
        tenant = "team-a" if i < 4 else "team-b"
        sub = client.submit(
            **valid_kwargs(i, job_display_name=f"Report-{tenant}-{i}"), tenant=tenant
        )
        ids[tenant].append(sub.submission_id)
    store = client.store
    first = ids["team-a"][0]
    store.record_attempt(first)  # type: ignore[attr-defined]
    job = {
        "name": "projects/test-project/locations/us-central1/batchPredictionJobs/42",
        "state": "JOB_STATE_RUNNING",
    }
    event = JobEvent.create(type="job.submitted", submission_id=first, state="SUBMITTED",
                            previous_state="SUBMITTING", tenant="team-a", job=job)  # fmt: skip
    store.transition(  # type: ignore[attr-defined]
        first, expected={S.SUBMITTING}, new_state=S.SUBMITTED,
        updates={"job_name": job["name"], "job": job}, event=event,
    )  # fmt: skip
    return ids


def cells(html: str, tenant: str) -> dict[str, int]:
    row = re.search(rf'<tr data-tenant="{re.escape(tenant)}">(.*?)</tr>', html, re.S)
    assert row, f"no row for {tenant}"
    out = {}
    for state, body in re.findall(r'<td data-state="([A-Z_a-z]+)">(.*?)</td>', row.group(1), re.S):
        out[state] = int(re.sub(r"<[^>]+>|,", "", body))
    return out


def test_pages_need_a_session(app: TestClient) -> None:
    resp = app.get("/console/submissions?state=FAILED", follow_redirects=False)
    assert resp.status_code == 303
    assert (
        resp.headers["location"] == "/console/login?next=%2Fconsole%2Fsubmissions%3Fstate%3DFAILED"
    )
    assert app.get("/console/overview/live", headers={"HX-Request": "true"}).status_code == 401
    bad = app.post("/console/login", data={"api_key": "vbq_nope"}, follow_redirects=False)
    assert bad.status_code == 401 and 'role="alert"' in bad.text
    assert "vbq_" not in bad.text.split("</form>")[0].split('name="api_key"')[1][:200]
    # An off-site "next" is ignored.
    resp = app.post("/console/login", data={"api_key": KEY_A, "next": "//evil.example/x"},
                    follow_redirects=False)  # fmt: skip
    assert resp.headers["location"] == "/console"
    # Cross-origin login forms are refused.
    assert app.post("/console/login", data={"api_key": KEY_A},
                    headers={"Origin": "https://evil.example"}).status_code == 403  # fmt: skip


def test_overview_counts_and_scoping(app: TestClient, client: Client) -> None:
    seed(client)
    html = login(app, KEY_ADMIN).get("/console").text
    assert cells(html, "team-a") == {"ACCEPTED": 3, "SUBMITTED": 1, "total": 4}
    assert cells(html, "team-b") == {"ACCEPTED": 2, "SUBMITTED": 0, "total": 2}
    assert cells(html, "*") == {"ACCEPTED": 5, "SUBMITTED": 1, "total": 6}
    assert 'hx-trigger="every 2s"' in html and "Pause live updates" in html
    live = app.get("/console/overview/live").text
    assert live.startswith('<div id="live"') and cells(live, "team-b")["total"] == 2
    app.cookies.clear()
    mine = login(app, KEY_B).get("/console").text
    assert cells(mine, "team-b") == {"ACCEPTED": 2, "total": 2}
    assert "team-a" not in mine


def test_security_headers_and_static_assets(app: TestClient) -> None:
    resp = login(app, KEY_A).get("/console")
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["cache-control"] == "no-store" and resp.headers["x-frame-options"] == "DENY"
    js = app.get("/console/static/htmx.min.js")
    assert js.status_code == 200
    recorded = (STATIC_DIR / "htmx.VERSION.txt").read_text()
    assert hashlib.sha256(js.content).hexdigest() in recorded
    assert (Path(STATIC_DIR) / "htmx.LICENSE.txt").read_text().startswith("Zero-Clause BSD")
    assert app.get("/console/static/console.css").status_code == 200


def test_list_filters_search_and_tenant_scope(app: TestClient, client: Client) -> None:
    ids = seed(client)
    login(app, KEY_ADMIN)

    def listed(query: str) -> list[str]:
        text = app.get(f"/console/submissions?{query}").text
        return re.findall(r'<tr data-id="([0-9a-f]{32})">', text)

    assert sorted(listed("")) == sorted(ids["team-a"] + ids["team-b"])
    assert sorted(listed("tenant=team-b")) == sorted(ids["team-b"])
    assert listed("state=SUBMITTED") == [ids["team-a"][0]]
    assert listed("label=n%3D5") == [ids["team-b"][1]]
    assert listed("model=publishers%2Fgoogle%2Fmodels%2Fgemini-2.0-flash-001")
    assert listed("q=report-team-b") == ids["team-b"]  # name order, case-insensitive
    assert listed(f"q={ids['team-b'][0]}") == [ids["team-b"][0]]
    assert listed("created_from=2000-01-01T00:00&created_to=2001-01-01T00:00") == []
    bad = app.get("/console/submissions?created_from=yesterday&state=NOPE").text
    assert 'aria-invalid="true"' in bad and "not a submission state" in bad
    fragment = app.get(
        "/console/submissions?tenant=team-a", headers={"HX-Request": "true", "HX-Target": "results"}
    )
    assert fragment.text.startswith('<section id="results"')
    app.cookies.clear()
    login(app, KEY_B)
    # A tenant key is held to its tenant whatever the query says.
    assert sorted(listed("tenant=team-a")) == sorted(ids["team-b"])
    assert listed(f"q={ids['team-a'][0]}") == []


def test_pagination_covers_everything_once(app: TestClient, client: Client) -> None:
    client.submit_many([valid_kwargs(i) for i in range(120)], tenant="team-a")
    login(app, KEY_A)
    seen: list[str] = []
    url = "/console/submissions"
    for _ in range(5):
        text = app.get(url).text
        seen += re.findall(r'<tr data-id="([0-9a-f]{32})">', text)
        nxt = re.search(r'<a rel="next" href="([^"]+)"', text)
        if not nxt:
            break
        url = nxt.group(1).replace("&amp;", "&")
    assert len(seen) == 120 == len(set(seen))


def test_submission_page_timeline_and_404_for_another_tenant(
    app: TestClient, client: Client
) -> None:
    ids = seed(client)
    first = ids["team-a"][0]
    page = login(app, KEY_A).get(f"/console/submissions/{first}")
    assert page.status_code == 200
    states = re.findall(
        r'<li data-kind="state">.*?<span class="title">(.*?)</span>', page.text, re.S
    )
    assert states == [
        "ACCEPTED (submission accepted)",
        "ACCEPTED → SUBMITTING",
        "SUBMITTING → SUBMITTED",
    ]
    times = re.findall(r'<li data-kind="[a-z]+"><time datetime="([^"]+)"', page.text)
    assert times == sorted(times)
    assert (
        "https://console.cloud.google.com/vertex-ai/locations/us-central1/batch-predictions/42?project=test-project"
        in page.text
    )
    assert "gcs_source" in page.text and "job_display_name" in page.text
    outputs = app.get(f"/console/submissions/{first}/outputs").text
    assert "cannot read outputs" in outputs
    assert app.get(f"/console/submissions/{ids['team-b'][0]}").status_code == 404
    assert app.get("/console/submissions/not-an-id").status_code == 404
    app.cookies.clear()
    assert login(app, KEY_ADMIN).get(f"/console/submissions/{ids['team-b'][0]}").status_code == 200


def test_cancel_needs_the_csrf_token_and_follows_the_api_rules(
    app: TestClient, client: Client, redis_url: str
) -> None:
    ids = seed(client)
    target = ids["team-a"][1]
    page = login(app, KEY_A).get(f"/console/submissions/{target}").text
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)  # type: ignore[union-attr]
    assert (
        app.post(f"/console/submissions/{target}/cancel", data={"csrf": "0" * 64}).status_code
        == 403
    )
    other = app.post(f"/console/submissions/{ids['team-b'][0]}/cancel", data={"csrf": token})
    assert other.status_code == 404
    done = app.post(f"/console/submissions/{target}/cancel", data={"csrf": token},
                    headers={"HX-Request": "true"})  # fmt: skip
    assert done.status_code == 202 and "Cancellation requested" in done.text
    assert [m["args"] for m in broker_messages(redis_url, "vbq.cancel")] == [[target]]
    plain = app.post(
        f"/console/submissions/{target}/cancel", data={"csrf": token}, follow_redirects=False
    )
    assert plain.status_code == 303 and plain.headers["location"].endswith("?done=cancel")
    client.store.transition(target, expected={S.ACCEPTED}, new_state=S.FAILED)  # type: ignore[attr-defined]
    late = app.post(
        f"/console/submissions/{target}/cancel",
        data={"csrf": token},
        headers={"HX-Request": "true"},
    )
    assert late.status_code == 409 and "already finished (FAILED)" in late.text


def test_admin_key_on_the_json_api(app: TestClient, client: Client) -> None:
    ids = seed(client)
    admin = {"Authorization": f"Bearer {KEY_ADMIN}"}
    assert app.get(f"/v1/submissions/{ids['team-b'][0]}", headers=admin).status_code == 200
    listed = app.get("/v1/submissions?page_size=100", headers=admin).json()["submissions"]
    assert {s["tenant"] for s in listed} == {"team-a", "team-b"}
    refused = app.post("/v1/submissions", json=valid_kwargs(99), headers=admin)
    assert refused.status_code == 403 and "cannot submit" in refused.json()["detail"]
    assert (
        app.get(f"/v1/submissions/{ids['team-b'][0]}", headers={"X-API-Key": KEY_A}).status_code
        == 404
    )
    # Google's surface acts for a tenant: an admin key has none.
    jobs = "/v1/projects/test-project/locations/us-central1/batchPredictionJobs"
    surface = app.get(jobs, headers=admin)
    assert surface.status_code == 403 and surface.json()["error"]["status"] == "PERMISSION_DENIED"
