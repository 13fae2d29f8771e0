"""The push endpoint over real HTTP, with the same processor streaming pull uses."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from vbq_emulators.pubsub.oidc import TokenSigner

from tests.unit.subscribers.fakes import FakeDeadLetter
from vbq.events import JobEvent
from vbq.settings import Settings
from vbq.subscribers import HandlerRegistry
from vbq.subscribers.processing import EventProcessor
from vbq.subscribers.push import PushServer
from vbq.subscribers.push_request import TokenVerifier

SETTINGS = Settings(project="p", events_subscription="subs", inbox_ttl_s=60)
AUDIENCE = "https://push.example"


def envelope(data: bytes, message_id: str = "1") -> bytes:
    return json.dumps(
        {
            "message": {
                "data": base64.b64encode(data).decode(),
                "messageId": message_id,
                "publishTime": "2026-01-02T03:04:05Z",
            },
            "subscription": "projects/p/subscriptions/subs",
        }
    ).encode()


def post(port: int, body: bytes, token: str = "") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, method="POST")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Harness:
    def __init__(self, r: redis.Redis, verifier: TokenVerifier | None = None) -> None:
        self.calls: list[str] = []
        self.fail = False
        self.dead = FakeDeadLetter()
        registry = HandlerRegistry()
        registry.add(self._handler, "*")
        self.processor = EventProcessor(
            settings=SETTINGS,
            redis=r,
            registry=registry,
            subscription_path="projects/p/subscriptions/subs",
            group="subs",
            dead_letter=self.dead,
        )
        self.server = PushServer(
            self.processor, host="127.0.0.1", port=0, verifier=verifier, threads=2
        )
        self.server.start()

    def _handler(self, event: JobEvent) -> None:
        if self.fail:
            raise RuntimeError("boom")
        self.calls.append(event.event_id)


@pytest.fixture
def harness(redis_url: str) -> Iterator[Harness]:
    h = Harness(redis.Redis.from_url(redis_url))
    yield h
    h.server.stop(grace_s=1)


def event(sid: str = "a" * 32) -> JobEvent:
    return JobEvent.create(
        type="job.succeeded", submission_id=sid, state="SUCCEEDED", previous_state=None
    )


def test_handled_once_then_acked_without_running(harness: Harness) -> None:
    ev = event()
    assert post(harness.server.port, envelope(ev.to_bytes())) == 204
    assert post(harness.server.port, envelope(ev.to_schema_json().encode(), "2")) == 204
    assert harness.calls == [ev.event_id]
    assert harness.processor.stats().duplicates == 1


def test_failures_answer_500_and_malformed_messages_are_dead_lettered(harness: Harness) -> None:
    harness.fail = True
    assert post(harness.server.port, envelope(event().to_bytes())) == 500
    assert post(harness.server.port, envelope(b"not an event")) == 204
    assert [data for data, _ in harness.dead.sent] == [b"not an event"]
    assert post(harness.server.port, b"not an envelope") == 400
    with urllib.request.urlopen(f"http://127.0.0.1:{harness.server.port}/healthz") as response:
        assert response.status == 200


def test_tokens_are_required_when_an_audience_is_set(redis_url: str) -> None:
    signer = TokenSigner()
    verifier = TokenVerifier(
        audience=AUDIENCE,
        certs_url="http://unused",
        issuers=["https://accounts.google.com"],
        fetch=lambda url: signer.certs(),
    )
    h = Harness(redis.Redis.from_url(redis_url), verifier=verifier)
    try:
        body = envelope(event("b" * 32).to_bytes())
        assert post(h.server.port, body) == 401
        token = signer.token(audience=AUDIENCE, email="sa@p.iam", now_s=time.time())
        assert post(h.server.port, body, token) == 204
        assert h.calls == [event("b" * 32).event_id]
    finally:
        h.server.stop(grace_s=1)


def test_stop_waits_for_running_handlers(harness: Harness) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(ev: JobEvent) -> None:
        started.set()
        release.wait(5)

    harness.processor.registry.add(slow, "job.running")
    ev = JobEvent.create(
        type="job.running", submission_id="c" * 32, state="RUNNING", previous_state=None
    )
    statuses: list[int] = []
    thread = threading.Thread(
        target=lambda: statuses.append(post(harness.server.port, envelope(ev.to_bytes())))
    )
    thread.start()
    assert started.wait(5)
    threading.Timer(0.3, release.set).start()
    assert harness.server.stop(grace_s=5) == 0
    thread.join(5)
    assert statuses == [204]
