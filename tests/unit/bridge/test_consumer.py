"""The bridge's per-batch logic with fake messages, client and dead-letter sink."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vbq.producers.batch import BatchResult, ItemError, ItemResult
from vbq.producers.bridge import Bridge, build_notification, object_resource
from vbq.producers.bridge.handling import Pending
from vbq.producers.bridge.rules import RuleSet
from vbq.settings import Settings
from vbq.states import SubmissionState

SUB = "projects/unit-proj/subscriptions/s"
TOPIC = "projects/unit-proj/topics/t"


@dataclass
class FakeMessage:
    data: bytes
    message_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    delivery_attempt: int | None = None
    publish_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    ordering_key: str = ""
    outcome: str = ""

    def ack(self) -> None:
        self.outcome = "ack"

    def nack(self) -> None:
        self.outcome = "nack"


class FakeClient:
    """``submit_many`` that fails ``failures`` times, then accepts items (a conflict for
    items whose idempotency key starts with ``conflict``)."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[list[dict[str, Any]]] = []

    def submit_many(self, items: list[dict[str, Any]], **_: Any) -> BatchResult:
        self.calls.append(items)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis down")
        accepted, errors = [], []
        for i, item in enumerate(items):
            if str(item["idempotency_key"]).startswith("conflict"):
                errors.append(ItemError.single(i, "idempotency_key", "conflict", "used"))
            else:
                accepted.append(
                    ItemResult(
                        index=i,
                        submission_id="0" * 32,
                        created=True,
                        state=SubmissionState.ACCEPTED,
                    )
                )
        return BatchResult(accepted=tuple(accepted), errors=tuple(errors))


class FakeSink:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, str]]] = []

    def send(self, data: bytes, *, attributes: Mapping[str, str], reason: str, **_: str) -> str:
        self.sent.append((data, {**attributes, "vbq_error": reason}))
        return str(len(self.sent))

    def close(self) -> None:
        pass


def _bridge(client: FakeClient, sink: FakeSink, rules: RuleSet | None = None) -> Bridge:
    return Bridge(
        settings=Settings(project="unit-proj"),
        client=client,  # type: ignore[arg-type]
        subscriptions=[SUB],
        rules=rules,
        dead_letter=sink,
        topics={SUB: TOPIC},
    )


def _req(n: int, **extra: Any) -> bytes:
    return json.dumps({"model_name": "m", "n": n, **extra}).encode()


def test_store_outage_is_retried_and_acks_wait_for_it() -> None:
    client, sink = FakeClient(failures=2), FakeSink()
    bridge = _bridge(client, sink)
    msgs = [FakeMessage(_req(i), str(i)) for i in range(3)]
    bridge._process([Pending(SUB, m) for m in msgs], threading.Event())
    assert len(client.calls) == 3 and bridge.stats().store_retries == 2
    assert [m.outcome for m in msgs] == ["ack"] * 3
    assert [i["idempotency_key"] for i in client.calls[-1]] == [
        "pubsub:unit-proj/t#0",
        "pubsub:unit-proj/t#1",
        "pubsub:unit-proj/t#2",
    ]


def test_stopping_during_an_outage_acks_nothing() -> None:
    client, sink = FakeClient(failures=100), FakeSink()
    bridge = _bridge(client, sink)
    stop = threading.Event()
    stop.set()
    msg = FakeMessage(_req(1), "1")
    bridge._process([Pending(SUB, msg)], stop)
    assert msg.outcome == ""  # queued again, handed back when the streams close
    assert bridge._intake._queue.qsize() == 1


def test_invalid_and_conflicting_messages_are_dead_lettered() -> None:
    client, sink = FakeClient(), FakeSink()
    bridge = _bridge(client, sink)
    bad = FakeMessage(b"{oops", "1", {"origin": "svc"})
    conflict = FakeMessage(_req(2, idempotency_key="conflict-1"), "2")
    good = FakeMessage(_req(3), "3")
    bridge._process([Pending(SUB, m) for m in (bad, conflict, good)], threading.Event())
    assert [m.outcome for m in (bad, conflict, good)] == ["ack", "ack", "ack"]
    assert [a["vbq_error_fields"] for _, a in sink.sent] == ["data", "idempotency_key"]
    assert sink.sent[0][1]["origin"] == "svc" and sink.sent[0][0] == b"{oops"
    stats = bridge.stats()
    assert (stats.dead_lettered, stats.submitted) == (2, 1)


def test_failed_dead_letter_publish_nacks() -> None:
    class BrokenSink(FakeSink):
        def send(self, *a: Any, **k: Any) -> str:
            raise ConnectionError("pubsub down")

    bridge = _bridge(FakeClient(), BrokenSink())
    msg = FakeMessage(b"nope", "1")
    bridge._process([Pending(SUB, msg)], threading.Event())
    assert msg.outcome == "nack" and bridge.stats().dead_lettered == 0


def test_notifications_ignored_unmatched_and_submitted() -> None:
    rules = RuleSet.from_dict(
        {
            "rules": [
                {
                    "bucket": "b",
                    "object": "in/*.jsonl",
                    "job": {
                        "model_name": "m",
                        "gcs_source": "gs://{bucket}/{name}",
                        "gcs_destination_prefix": "gs://{bucket}/out",
                    },
                }
            ]
        }
    )
    client, sink = FakeClient(), FakeSink()
    bridge = _bridge(client, sink, rules)

    def note(name: str, event: str = "OBJECT_FINALIZE") -> FakeMessage:
        data, attrs = build_notification(
            object_resource(bucket="b", name=name, generation=5), event_type=event
        )
        return FakeMessage(data, name, attrs)

    msgs = [note("in/a.jsonl"), note("in/a.jsonl", "OBJECT_DELETE"), note("out/a.jsonl")]
    bridge._process([Pending(SUB, m) for m in msgs], threading.Event())
    assert [m.outcome for m in msgs] == ["ack"] * 3
    stats = bridge.stats()
    assert (stats.submitted, stats.ignored, stats.unmatched) == (1, 1, 1)
    assert client.calls[0][0]["idempotency_key"] == "gcs:b/in/a.jsonl#5"


def test_fault_hook_decides_the_settlement() -> None:
    client, sink = FakeClient(), FakeSink()
    actions = iter(["nack", "drop", "ack"])
    bridge = Bridge(
        settings=Settings(project="unit-proj"),
        client=client,  # type: ignore[arg-type]
        subscriptions=[SUB],
        dead_letter=sink,
        topics={SUB: TOPIC},
        before_ack=lambda m: next(actions),  # type: ignore[arg-type,return-value]
    )
    msgs = [FakeMessage(_req(i), str(i)) for i in range(3)]
    late = FakeMessage(_req(9), "9")
    bridge._intake._on_message(SUB, late)  # before run() accepts: handed straight back
    assert late.outcome == "nack"
    bridge._intake._accepting.set()
    for m in msgs:
        bridge._intake._on_message(SUB, m)
    bridge._process(bridge._intake.take_batch(threading.Event()), threading.Event())
    assert [m.outcome for m in msgs] == ["nack", "", "ack"]
    stats = bridge.stats()
    assert (stats.nacked, stats.dropped, stats.outstanding, stats.peak_outstanding) == (1, 1, 0, 3)


def test_an_unexpected_parse_error_dead_letters_instead_of_crashing() -> None:
    class ExplodingRules(RuleSet):
        def match(self, event: Any) -> Any:
            raise RuntimeError("bug in a rule")

    client, sink = FakeClient(), FakeSink()
    bridge = _bridge(client, sink, ExplodingRules(rules=()))
    data, attrs = build_notification(object_resource(bucket="b", name="x", generation=1))
    msg = FakeMessage(data, "1", attrs)
    good = FakeMessage(_req(1), "2")
    bridge._process([Pending(SUB, msg), Pending(SUB, good)], threading.Event())
    assert (msg.outcome, good.outcome) == ("ack", "ack")
    assert sink.sent[0][1]["vbq_error_fields"] == "data"
    assert "bug in a rule" in sink.sent[0][1]["vbq_error"]
