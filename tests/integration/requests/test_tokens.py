"""Token accounting of ordinary Gemini jobs: the finished event's ``results``, the record,
the per-tenant and per-model totals (with an estimated cost), and the emulator's limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from tests.integration.requests.inproc import Flow
from tests.support.emulators import VertexEmulator
from vbq.cli import cli
from vbq.usage import UsageLedger

pytestmark = pytest.mark.integration

GEMINI = "publishers/google/models/gemini-2.0-flash-001"
PRICES = json.dumps(
    {
        "currency": "USD",
        "models": {"gemini-2.0-*": {"prompt_per_million": 1e6, "candidates_per_million": 2e6}},
    }
)


def upload(storage_client: Any, flow: Flow, name: str, texts: list[str]) -> str:
    bucket = flow.settings.pack_prefix.removeprefix("gs://").split("/")[0]
    lines = [
        json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": t}]}]}})
        for t in texts
    ]
    storage_client.bucket(bucket).blob(name).upload_from_string("\n".join(lines) + "\n")
    return f"gs://{bucket}/{name}"


def submit(flow: Flow, uri: str, tenant: str) -> str:
    out = flow.settings.pack_prefix.rsplit("/", 1)[0] + "/plain-out"
    sub = flow.client.submit(
        job_display_name="plain",
        model_name=GEMINI,
        gcs_source=uri,
        gcs_destination_prefix=out,
        tenant=tenant,
    )
    return sub.submission_id


def test_finished_event_and_totals_carry_token_sums(
    make_flow: Any, vertex_emulator: VertexEmulator, storage_client: Any, redis_url: str
) -> None:
    flow = make_flow(VBQ_PRICE_TABLE=PRICES)
    uri = upload(storage_client, flow, "in/a.jsonl", ["one two", "three four five"])
    sid = submit(flow, uri, "team-a")
    flow.drive(lambda: any(e["type"] == "job.succeeded" for e in flow.events()))
    (event,) = [e for e in flow.events() if e["type"] == "job.succeeded"]
    results = event["results"]
    # The emulator counts words: prompts 2 + 3, answers "echo: ..." 3 + 4.
    assert results["usage"] == {
        "prompt": 5,
        "candidates": 7,
        "thoughts": 0,
        "cached": 0,
        "total": 12,
    }
    assert (results["requests"], results["succeeded"], results["failed"]) == (2, 2, 0)
    assert results["cost"] == pytest.approx(5 + 14) and results["currency"] == "USD"
    assert flow.client.get(sid).usage == results["usage"]
    ledger = UsageLedger(flow.r)
    assert ledger.get("tenant", "team-a").tokens.total == 12
    assert ledger.get(
        "model", "publishers/google/models/gemini-2.0-flash-001"
    ).cost == pytest.approx(19)
    runner = CliRunner(env={"VBQ_REDIS_URL": redis_url, "VBQ_PROJECT": "vbq-requests"})
    shown = runner.invoke(cli, ["usage", "--json"])
    assert json.loads(shown.stdout)["tenant"][0]["tokens"]["total"] == 12
    status = runner.invoke(cli, ["status", sid])
    assert "results" in status.stdout and "'total': 12" in status.stdout
    # A second run of the results task counts nothing twice.
    for _ in range(3):
        flow.step()
    assert UsageLedger(flow.r).get("tenant", "team-a").jobs == 1


def test_emulator_fails_a_gemini_job_over_the_request_limit(
    make_flow: Any, vertex_emulator: VertexEmulator, storage_client: Any
) -> None:
    vertex_emulator.configure(gemini_max_requests=3)
    flow = make_flow()
    uri = upload(storage_client, flow, "in/big.jsonl", [f"q {i}" for i in range(4)])
    sid = submit(flow, uri, "team-b")
    flow.drive(lambda: flow.store.get(sid).finished)
    rec = flow.store.get(sid)
    assert rec.state.value == "FAILED"
    assert rec.job and "more than the limit of 3 requests" in rec.job["error"]["message"]
    assert rec.job["error"]["code"] == 3
