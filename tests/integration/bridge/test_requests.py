"""Request topic: N messages, each delivered up to three times, make exactly N submissions;
invalid ones are dead-lettered with the field named (real Pub/Sub emulator, real Redis)."""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.bridge.conftest import (
    Names,
    RunningBridge,
    publish_all,
    pull_dead_letters,
    stored_records,
    valid_request,
    wait_until,
)
from tests.support.pubsub import PubSubEmulator
from vbq.producers.bridge import FaultAction, message_idempotency_key
from vbq.settings import Settings
from vbq.store import submission_id_for

pytestmark = pytest.mark.integration

# (data, expected first field named in vbq_error_fields)
_INVALID: list[tuple[bytes, str]] = [
    (b"not json {", "data"),
    (b"[1, 2, 3]", "data"),
    (
        json.dumps({k: v for k, v in valid_request(0).items() if k != "model_name"}).encode(),
        "model_name",
    ),
    (json.dumps(valid_request(0, gcs_source="s3://elsewhere/x.jsonl")).encode(), "gcs_source"),
    (json.dumps(valid_request(0, labels={"vbq-own": "x"})).encode(), "labels.vbq-own"),
    (json.dumps(valid_request(0, tenant="Not A Tenant")).encode(), "tenant"),
    (json.dumps(valid_request(0, machine_type=7)).encode(), "machine_type"),
    (json.dumps(valid_request(0, sync=True)).encode(), "sync"),
]


class Redeliver:
    """Fault hook: message ``i`` is nacked (or left to expire) ``i % 3`` times before its ack,
    so it is delivered up to three times, and submitted on every delivery."""

    def __init__(self, extra_by_index: dict[str, int], drop_every: int = 0) -> None:
        self.extra = extra_by_index  # message id -> extra deliveries wanted
        self.drop_every = drop_every
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, message: Any) -> FaultAction:
        mid = message.message_id
        with self.lock:
            self.seen[mid] += 1
            n = self.seen[mid]
        wanted = self.extra.get(mid, 0)
        if n > wanted:
            return "ack"
        if self.drop_every and n == 1 and zlib.crc32(mid.encode()) % self.drop_every == 0:
            return "drop"
        return "nack"


def _run_requests(
    *,
    settings: Settings,
    names: Names,
    emulator: PubSubEmulator,
    publisher: Any,
    run_bridge: Callable[..., RunningBridge],
    valid: int,
    invalid: int,
    drop_every: int,
    timeout_s: float,
) -> None:
    messages = [(json.dumps(valid_request(i)).encode(), {"n": str(i)}) for i in range(valid)]
    bad = [_INVALID[i % len(_INVALID)] for i in range(invalid)]
    messages += [(data, {"bad": str(i)}) for i, (data, _) in enumerate(bad)]
    ids = publish_all(publisher, names.topic_path, messages)
    hook = Redeliver({mid: i % 3 for i, mid in enumerate(ids[:valid])}, drop_every)
    runner = run_bridge(
        subscriptions=[names.subscription],
        before_ack=hook,
        max_outstanding=200,
        # A left-alone message is redelivered once its lease stops being extended.
        max_lease_s=1.0,
    )
    expected_deliveries = valid + sum(i % 3 for i in range(valid))
    path = names.subscription_path

    def done() -> bool:
        stats = runner.bridge.stats()
        sub = emulator.stats()["subscriptions"].get(path, {})
        return (
            stats.submitted + stats.replayed >= expected_deliveries
            and stats.dead_lettered >= invalid
            and sub.get("backlog", 1) == 0
            and sub.get("outstanding", 1) == 0
        )

    started = time.monotonic()
    finished = wait_until(done, timeout_s)
    elapsed = time.monotonic() - started
    runner.stop()
    stats = runner.bridge.stats()
    assert finished, (
        f"not done after {timeout_s}s: {stats} {emulator.stats()['subscriptions'][path]}"
    )

    records = stored_records(settings.redis_url)
    assert len(records) == valid, f"{len(records)} submissions for {valid} requests"
    # Each record is the one its message id names: tenant-scoped key from topic + message id.
    expected_ids = {
        submission_id_for("default", message_idempotency_key(names.topic_path, mid))
        for mid in ids[:valid]
    }
    assert {r["id"] for r in records} == expected_ids
    assert stats.submitted == valid
    assert stats.replayed == expected_deliveries - valid
    assert max(hook.seen.values()) == 3
    if drop_every:
        assert stats.dropped > 0
        assert emulator.stats()["subscriptions"][path]["expired"] >= stats.dropped

    letters = pull_dead_letters(settings, invalid)
    assert len(letters) == invalid
    by_index = {m.attributes["bad"]: m for m in letters}
    for i, (data, field) in enumerate(bad):
        letter = by_index[str(i)]
        assert letter.data == data
        assert letter.attributes["vbq_error_fields"].split(",")[0] == field
        assert field in letter.attributes["vbq_error"]
        assert letter.attributes["vbq_subscription"] == path
    print(f"bridge requests: {valid} valid, {invalid} invalid, {elapsed:.1f}s, {stats}")


def test_each_request_submits_exactly_once(
    settings: Settings,
    resources: Names,
    emulator: PubSubEmulator,
    publisher: Any,
    run_bridge: Callable[..., RunningBridge],
) -> None:
    _run_requests(
        settings=settings,
        names=resources,
        emulator=emulator,
        publisher=publisher,
        run_bridge=run_bridge,
        valid=1000,
        invalid=10,
        # Lease expiries cost a 10 s ack deadline each round: they run in the slow variant and
        # in test_outages (a SIGKILLed bridge's leases expire).
        drop_every=0,
        timeout_s=90,
    )


@pytest.mark.slow
def test_five_thousand_requests_submit_exactly_once(
    settings: Settings,
    resources: Names,
    emulator: PubSubEmulator,
    publisher: Any,
    run_bridge: Callable[..., RunningBridge],
) -> None:
    _run_requests(
        settings=settings,
        names=resources,
        emulator=emulator,
        publisher=publisher,
        run_bridge=run_bridge,
        valid=5000,
        invalid=50,
        drop_every=50,
        timeout_s=300,
    )
