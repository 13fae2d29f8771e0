"""The web console in headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright)
against the running demo stack: Redis, the three emulators, workers, beat, the subscriber and
``vbq api``.

One stack and one browser for the module (about a minute on a loaded 2-core machine). Every
page is screenshotted under the test's temporary directory; with
``VBQ_CONSOLE_SCREENSHOT_TO=path.png`` the overview is also copied there (how
``docs/console-overview.png`` is made).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from vbq_demo.samples import job_requests, sample_files, upload_samples
from vbq_demo.stack import DEMO_BUCKET, DEMO_LOCATION, DEMO_PROJECT, DemoStack, StackOptions

from tests.support.services import REPO_ROOT, vbq_argv
from vbq.producers import Client
from vbq.states import SubmissionState

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.xdist_group("console")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
]
JOBS = 24
WAIT_S = 90.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """The demo stack with a finished workload: 24 jobs of three tenants (no chained stage 2,
    so the counts hold still once they finished)."""
    workdir = tmp_path_factory.mktemp("console-stack")
    demo = DemoStack(options=StackOptions(workdir=workdir, workers=2, seconds_per_job=2.0))
    try:
        demo.start()
        upload_samples(storage_host=demo.storage_host, bucket=DEMO_BUCKET, files=sample_files())
        items = job_requests(
            count=JOBS, project=DEMO_PROJECT, location=DEMO_LOCATION, bucket=DEMO_BUCKET,
            run_id="console", chain_share=0.0,
        )  # fmt: skip
        with Client.from_settings(demo.settings()) as client:
            result = client.submit_many(items)
            assert not result.errors
            _wait_all_finished(client, minimum=JOBS)
        yield demo
    finally:
        demo.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), (
        "the console's browser tests need Debian's chromium: apt-get install chromium "
        "(make setup does it when run as root)"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-screenshots")


@pytest.fixture
def page(browser: Any, stack: DemoStack) -> Iterator[Any]:
    context = browser.new_context(base_url=stack.api_url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()


def _wait_all_finished(client: Client, *, minimum: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        counts = client.counts_by_state()
        total = sum(counts.values())
        if total >= minimum and all(state.finished for state in counts):
            return
        time.sleep(0.5)
    raise AssertionError(f"the workload did not finish in {WAIT_S:.0f}s: {counts}")


def sign_in(page: Any, key: str) -> None:
    page.goto("/console")
    assert "/console/login" in page.url
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console")
    page.get_by_role("heading", name="Overview", level=1).wait_for()


def state_table(page: Any) -> dict[tuple[str, str], int]:
    """(tenant, state) -> count, as the overview's table shows it (non-zero cells)."""
    cells = page.eval_on_selector_all(
        "#state-table tbody tr td[data-state]",
        "tds => tds.map(td => [td.closest('tr').dataset.tenant, td.dataset.state, td.innerText])",
    )
    return {
        (tenant, state): int(text.replace(",", ""))
        for tenant, state, text in cells
        if state != "total" and text.strip() != "0"
    }


def vbq_list_counts(stack: DemoStack) -> dict[tuple[str, str], int]:
    env = {**os.environ, **stack.env()}
    out = subprocess.run(
        vbq_argv("list", "--json", "--limit", "100000"),
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return dict(Counter((r["tenant"], r["state"]) for r in rows))


def test_overview_shows_what_vbq_list_shows_and_updates_live(
    page: Any, stack: DemoStack, shots: Path
) -> None:
    sign_in(page, stack.admin_key)
    assert state_table(page) == vbq_list_counts(stack)
    # The figures update in place: no reload (a marker set in the page survives).
    page.evaluate("window.__vbqMarker = 'same page'")
    before = int(
        page.locator("#state-table tr[data-tenant='recs'] td[data-state='total']").inner_text()
    )
    body = {k: v for k, v in job_requests(
        count=1, project=DEMO_PROJECT, location=DEMO_LOCATION, bucket=DEMO_BUCKET, run_id="live",
    )[0].items() if k != "tenant"}  # fmt: skip
    resp = httpx.post(
        f"{stack.api_url}/v1/submissions", json=body,
        headers={"Authorization": f"Bearer {stack.tenant_keys['recs']}"}, timeout=10,
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    total = page.locator("#state-table tr[data-tenant='recs'] td[data-state='total']")
    total.filter(has_text=re.compile(rf"^{before + 1}$")).wait_for(timeout=15_000)
    assert page.evaluate("window.__vbqMarker") == "same page"
    assert int(page.locator("#events-published").inner_text().replace(",", "")) > 0
    assert page.locator("#tenant-quota tr[data-tenant='search']").count() == 1
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    target = os.environ.get("VBQ_CONSOLE_SCREENSHOT_TO")
    if target:
        shutil.copyfile(shots / "overview.png", target)
    # Keyboard: the skip link is the first stop and moves focus to the main content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.get_by_role("button", name="Pause live updates").click()
    assert (
        page.get_by_role("button", name="Resume live updates").get_attribute("aria-pressed")
        == "true"
    )


def test_submissions_filters_and_a_timeline_in_order(
    page: Any, stack: DemoStack, shots: Path
) -> None:
    sign_in(page, stack.admin_key)
    page.get_by_role("link", name="Submissions").click()
    page.get_by_role("heading", name="Submissions", level=1).wait_for()
    page.get_by_label("Tenant").select_option("search")
    page.get_by_label("State", exact=True).select_option("SUCCEEDED")
    page.wait_for_url(re.compile(r"state=SUCCEEDED"))  # pushed: the filtered list has a URL
    assert "tenant=search" in page.url and "&label=" not in page.url  # empty filters left out
    page.locator("#results p[role=status]").filter(has_text="newest first").wait_for()
    rows = page.locator("#submissions tbody tr")
    assert rows.count() >= 1
    states = page.eval_on_selector_all(
        "#submissions tbody tr td .state", "s => s.map(x => x.innerText)"
    )
    assert set(states) == {"SUCCEEDED"}
    page.screenshot(path=str(shots / "submissions.png"), full_page=True)
    # Search by the start of a display name, then open the first hit.
    page.get_by_label("Search by submission id or start of display name").fill("DEMO-CONSOLE-00")
    page.locator("#results p[role=status]").filter(has_text="by display name").wait_for()
    page.locator("#submissions tbody tr th a").first.click()
    page.get_by_role("heading", name="Timeline").wait_for()
    items = page.eval_on_selector_all(
        "#timeline li",
        "lis => lis.map(li => [li.dataset.kind, li.querySelector('time').getAttribute('datetime'),"
        " li.querySelector('.title').innerText])",
    )
    times = [t for _, t, _ in items]
    assert times == sorted(times)
    changes = [title for kind, _, title in items if kind == "state"]
    assert changes[0].startswith("ACCEPTED") and changes[1] == "ACCEPTED → SUBMITTING"
    assert "SUBMITTING → SUBMITTED" in changes
    final = page.locator("#state").inner_text()
    assert SubmissionState(final).finished and changes[-1].endswith(f"→ {final}")
    assert any(kind == "handled" for kind, _, _ in items)  # the subscriber's completions
    page.locator("#outputs h3").first.wait_for()
    link = page.get_by_role("link", name=re.compile("Open in the Cloud console"))
    assert link.get_attribute("href").startswith(
        "https://console.cloud.google.com/vertex-ai/locations/"
    )
    page.screenshot(path=str(shots / "submission.png"), full_page=True)


def test_gemini_outputs_and_token_usage(page: Any, stack: DemoStack, shots: Path) -> None:
    sign_in(page, stack.admin_key)
    model = "publishers/google/models/gemini-2.0-flash-001"
    page.goto(f"/console/submissions?state=SUCCEEDED&model={model}")
    page.locator("#submissions tbody tr th a").first.click()
    page.locator("#token-usage").wait_for()
    total = int(
        page.locator("#token-usage div:has(dt:text('Total tokens')) dd")
        .inner_text()
        .replace(",", "")
    )
    assert total > 0
    assert page.locator("#predictions-table tbody tr").count() >= 1
    page.screenshot(path=str(shots / "outputs.png"), full_page=True)


def test_cancel_from_the_page(page: Any, stack: DemoStack, shots: Path) -> None:
    admin = httpx.Client(base_url=stack.vertex_url, timeout=10)
    original = admin.get("/_emulator/config").json()
    admin.post("/_emulator/config", json={"queued_s": 3000.0}).raise_for_status()  # jobs wait
    try:
        body = {k: v for k, v in job_requests(
            count=1, project=DEMO_PROJECT, location=DEMO_LOCATION, bucket=DEMO_BUCKET,
            run_id="cancel",
        )[0].items() if k != "tenant"}  # fmt: skip
        resp = httpx.post(
            f"{stack.api_url}/v1/submissions", json=body,
            headers={"Authorization": f"Bearer {stack.tenant_keys['ads']}"}, timeout=10,
        )  # fmt: skip
        sid = resp.json()["submission_id"]
        sign_in(page, stack.tenant_keys["ads"])
        page.goto(f"/console/submissions/{sid}")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Cancel submission").click()
        page.locator("#cancel-area [role=status]").filter(
            has_text="Cancellation requested"
        ).wait_for()
        page.locator("#state").filter(has_text=re.compile("^CANCELLED$")).wait_for(timeout=30_000)
        last_change = page.locator("#timeline li[data-kind=state]").last.inner_text()
        assert last_change.endswith("→ CANCELLED event job.cancelled recorded"), last_change
        page.screenshot(path=str(shots / "cancelled.png"), full_page=True)
    finally:
        admin.post("/_emulator/config", json={"queued_s": original["queued_s"]})
        admin.close()


def test_a_tenant_key_cannot_see_another_tenants_submission(
    page: Any, stack: DemoStack, shots: Path
) -> None:
    with Client.from_settings(stack.settings()) as client:
        theirs = next(client.iter_submissions(tenant="search")).submission_id
        mine = next(client.iter_submissions(tenant="ads")).submission_id
    sign_in(page, stack.tenant_keys["ads"])
    assert page.goto(f"/console/submissions/{mine}").status == 200
    response = page.goto(f"/console/submissions/{theirs}")
    assert response.status == 404
    page.get_by_role("heading", name="Not found").wait_for()
    page.screenshot(path=str(shots / "not-found.png"), full_page=True)
    page.goto("/console/submissions?tenant=search")
    tenants = page.eval_on_selector_all(
        "#submissions tbody tr td:nth-child(3)", "t => t.map(x => x.innerText)"
    )
    assert tenants and set(tenants) == {"ads"}
    page.goto("/console")
    assert {tenant for tenant, _ in state_table(page)} == {"ads"}
