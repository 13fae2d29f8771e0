"""The request side of a chaos run: a client adding single requests while faults happen, and
what is recorded about them afterwards (:mod:`tests.chaos.request_checker`)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

from tests.chaos.request_checker import RequestHistory
from vbq.producers import Client
from vbq.requests import RequestStore
from vbq.settings import Settings

__all__ = ["RequestSubmitter", "request_history"]

BATCH = 10
TENANTS = 3


class RequestSubmitter:
    """Adds ``n`` requests in batches of 10 (3 tenants) spread over ``window_s``; retries each
    batch with the same idempotency keys until the client returns (Redis restarts)."""

    def __init__(self, client: Client, n: int, window_s: float) -> None:
        self.client = client
        self.n = n
        self.window_s = window_s
        self.accepted: set[str] = set()
        self.errors = 0
        self.thread = threading.Thread(target=self._run, name="chaos-requests", daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        for start in range(0, self.n, BATCH):
            due = t0 + self.window_s * start / max(1, self.n)
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            tenant = f"chaos-t{(start // BATCH) % TENANTS}"
            items = [
                {
                    "model": "gemini-2.0-flash-001",
                    "request": {"contents": [{"role": "user", "parts": [{"text": f"r{i}"}]}]},
                    "idempotency_key": f"chaos-req-{i}",
                }
                for i in range(start, min(self.n, start + BATCH))
            ]
            while True:
                try:
                    batch = self.client.add_requests(items, tenant=tenant)
                    assert batch.ok, batch.errors
                    self.accepted.update(batch.request_ids)
                    break
                except Exception:
                    self.errors += 1
                    time.sleep(0.2)


def request_history(settings: Settings, accepted: set[str], tapped: Counter[str]) -> RequestHistory:
    """What the store, the pack inputs in Cloud Storage and the outbox tap say about requests."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from vbq.storage import list_objects

    gcs = storage.Client(
        project="vbq-chaos",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": settings.storage_emulator_host},
    )
    store = RequestStore.from_settings(settings)
    try:
        history = RequestHistory(accepted=set(accepted), counts=store.counts())
        ids = sorted(accepted)
        for rid, rec in zip(ids, store.get_many(ids), strict=True):
            if rec is not None:
                history.records[rid] = (rec.state.value, rec.pack_id)
        for pack_id in {pack for _, pack in history.records.values()}:
            pack = store.get_pack(pack_id)
            if pack is not None and pack.submission_id:
                history.pack_submissions[pack_id] = pack.submission_id
            uri = f"{settings.pack_prefix}/inputs/{pack_id}.jsonl"
            for blob in list_objects(uri, client=gcs):
                history.pack_inputs[pack_id] = [
                    _route(line) for line in blob.download_as_bytes().splitlines() if line.strip()
                ]
    finally:
        store.close()
    history.events = Counter(
        {eid: n for eid, n in tapped.items() if eid.split(":", 1)[0] in accepted}
    )
    return history


def _route(line: bytes) -> str:
    row: Any = json.loads(line)
    return str(row["request"]["labels"]["vbq-request"])
