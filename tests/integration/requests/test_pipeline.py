"""Single requests from several tenants, packed into few jobs, each answered with its own
response although the emulator shuffles the output order (issue 16, bounded size)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.integration.requests.conftest import Pipeline, outbox_events, wait_until
from tests.support.emulators import VertexEmulator
from vbq.producers import Client
from vbq.requests import RequestState

pytestmark = pytest.mark.integration

MODEL = "gemini-2.0-flash-001"


def prompt(tenant: int, i: int) -> str:
    return f"tenant {tenant} asks question {i}"


def run_requests(
    pipeline: Pipeline,
    vertex: VertexEmulator,
    *,
    tenants: int,
    per_tenant: int,
    timeout_s: float,
    sample: int | None = None,
) -> dict[str, Any]:
    """Add the requests, wait for every answer, check each one (every record in bulk against
    its output row; ``sample`` handles, or all, through the handle API); returns counts."""
    settings = pipeline.settings
    handles = []
    with Client.from_settings(settings) as client:
        for t in range(tenants):
            items = [
                {
                    "model": MODEL,
                    "request": {"contents": [{"role": "user", "parts": [{"text": prompt(t, i)}]}]},
                    "idempotency_key": f"q-{i}",
                    "metadata": {"i": i},
                }
                for i in range(per_tenant)
            ]
            batch = client.add_requests(items, tenant=f"tenant-{t}")
            assert batch.ok, batch.errors
            handles += [(t, i, h) for i, h in batch.handles]
        total = tenants * per_tenant

        def answered() -> bool:
            counts = client._requests()[0].counts()
            return counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0) >= total

        def progress() -> Any:
            return (client._requests()[0].counts(), pipeline.tails()[-3000:])

        wait_until(answered, timeout_s=timeout_s, what="every request answered", detail=progress)
        check_rows_in_bulk(client, [(t, i, h.request_id) for t, i, h in handles])
        for t, i, handle in handles[:: max(1, len(handles) // sample)] if sample else handles:
            assert handle.wait(timeout_s=5) is RequestState.SUCCEEDED, handle.to_dict()
            assert handle.text == f"echo: {prompt(t, i)}", (t, i, handle.to_dict())
            assert handle.usage["total"] > 0
            assert handle.job_name and handle.submission_id
            assert handle.metadata == {"i": i}
    jobs = vertex.jobs()
    r = redis.Redis.from_url(settings.redis_url)
    try:
        reasons = Counter(
            r.hget(k, "reason").decode() for k in r.scan_iter("vbq:pack:*") if r.type(k) == b"hash"
        )
    finally:
        r.close()
    return {"jobs": len(jobs), "reasons": reasons, "total": total}


def check_rows_in_bulk(client: Client, expected: list[tuple[int, int, str]]) -> None:
    """Every request's record points at an output row routed to it, answering its prompt."""
    import json

    from vbq.storage import split_gs, storage_client

    store = client._requests()[0]
    records = store.get_many([rid for _, _, rid in expected])
    packs = {rec.pack_id: store.get_pack(rec.pack_id) for rec in records if rec is not None}
    files: dict[str, bytes] = {}
    for (t, i, rid), rec in zip(expected, records, strict=True):
        assert rec is not None and rec.state is RequestState.SUCCEEDED, (rid, rec)
        pack = packs[rec.pack_id]
        assert pack is not None and rec.file_index is not None and rec.offset is not None
        uri = pack.files[rec.file_index]
        if uri not in files:
            bucket, name = split_gs(uri)
            files[uri] = storage_client().bucket(bucket).blob(name).download_as_bytes()
        row = json.loads(files[uri][rec.offset : rec.offset + (rec.length or 0)])
        assert row["request"]["labels"]["vbq-request"] == rid
        text = row["response"]["candidates"][0]["content"]["parts"][0]["text"]
        assert text == f"echo: {prompt(t, i)}", (rid, text)


def test_bounded_requests_are_packed_and_routed_back(
    start_pipeline: Callable[..., Pipeline], vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(shuffle_output=True, time_scale=0.01)
    pipeline = start_pipeline(
        VBQ_PACK_MAX_ROWS="400", VBQ_PACK_MAX_WAIT_S="2", VBQ_PACK_SHARE_TENANTS="true"
    )
    out = run_requests(pipeline, vertex_emulator, tenants=10, per_tenant=150, timeout_s=120)
    print(out)
    age_flushes = out["reasons"].get("age", 0)
    assert out["jobs"] <= math.ceil(out["total"] / 400) + age_flushes, out
    assert out["reasons"]["full"] == out["total"] // 400, out
    finished = [
        e for e in outbox_events(pipeline.settings.redis_url) if e["type"] == "job.succeeded"
    ]
    assert len(finished) == out["jobs"]
    assert sum(e["results"]["requests"] for e in finished) == out["total"]
    assert all(e["results"]["usage"]["total"] > 0 for e in finished)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    ("max_rows", "share"), [("200000", "false"), ("20000", "true")], ids=["per-tenant", "shared"]
)
def test_100000_requests_from_10_tenants(
    start_pipeline: Callable[..., Pipeline],
    vertex_emulator: VertexEmulator,
    max_rows: str,
    share: str,
) -> None:
    vertex_emulator.configure(shuffle_output=True, time_scale=0.01)
    pipeline = start_pipeline(
        VBQ_PACK_MAX_ROWS=max_rows, VBQ_PACK_MAX_WAIT_S="20", VBQ_PACK_SHARE_TENANTS=share
    )
    out = run_requests(
        pipeline, vertex_emulator, tenants=10, per_tenant=10_000, timeout_s=1500, sample=200
    )
    print(out)
    age_flushes = out["reasons"].get("age", 0)
    assert out["jobs"] <= math.ceil(out["total"] / int(max_rows)) + age_flushes, out
