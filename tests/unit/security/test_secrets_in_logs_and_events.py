"""Secrets never reach a log line or an event: URL passwords, bearer tokens, API keys,
webhook secrets; events carry no credentials by construction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from vbq.errors import EventError, HandlerError, SpecError
from vbq.events import EventRequest, JobEvent
from vbq.logs import configure_logging, get_logger
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.subscribers.actions.signature import SignatureCheck, verify
from vbq.subscribers.actions.webhook import Webhook

PASSWORD = "s3cr3t-Pa55word"
API_KEY = "vbq_" + "A1b2C3d4" * 4
WEBHOOK_SECRET = "whsec-" + "z9" * 16


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(log_format="json", level="DEBUG", stream=stream, force=True)
    yield stream
    configure_logging(log_format="json", level="INFO", force=True)


def test_settings_redacted_hides_url_passwords() -> None:
    s = Settings.from_env(
        {
            "VBQ_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:6390/0",
            "VBQ_BROKER_URL": f"amqp://vbq:{PASSWORD}@mq.internal:5672//",
        }
    )
    text = json.dumps(s.redacted(), default=str)
    assert PASSWORD not in text
    assert "redis://:***@127.0.0.1:6390/0" in text
    assert "amqp://vbq:***@mq.internal:5672//" in text


def test_structlog_lines_redact_secrets_in_values_and_secret_named_keys(
    log_stream: io.StringIO,
) -> None:
    log = get_logger("test.security")
    log.info(
        "connecting",
        url=f"redis://user:{PASSWORD}@10.0.0.1:6379/0",
        header=f"Authorization: Bearer {API_KEY}",
        api_key=API_KEY,
        password=PASSWORD,
        nested={"token": "abcdefgh12345678", "note": f"key={API_KEY}"},
    )
    out = log_stream.getvalue()
    assert "connecting" in out
    for secret in (PASSWORD, API_KEY, "abcdefgh12345678"):
        assert secret not in out, out


def test_stdlib_logging_of_libraries_is_redacted_too(log_stream: io.StringIO) -> None:
    # Celery, kombu and httpx log through the standard library, with %-style arguments.
    logging.getLogger("celery.worker.consumer").error(
        "Cannot connect to %s: refused", f"redis://:{PASSWORD}@127.0.0.1:6390/0"
    )
    out = log_stream.getvalue()
    assert "Cannot connect to" in out
    assert PASSWORD not in out


def test_job_events_have_no_place_for_credentials() -> None:
    fields = set(JobEvent.model_fields) | set(EventRequest.model_fields)
    assert not {f for f in fields if "cred" in f or "secret" in f or "token" in f}
    good = JobEvent.create(
        type="job.succeeded", submission_id="a" * 32, state="SUCCEEDED", previous_state=None
    )
    smuggled = json.loads(good.to_json())
    smuggled["credentials"] = {"private_key": "-----BEGIN PRIVATE KEY-----"}
    with pytest.raises(EventError):
        JobEvent.from_json(json.dumps(smuggled))
    smuggled = json.loads(good.to_json())
    smuggled["request"]["credentials"] = "x"
    with pytest.raises(EventError):
        JobEvent.from_json(json.dumps(smuggled))


def test_the_job_spec_refuses_credentials() -> None:
    with pytest.raises(SpecError) as err:
        JobSpec.from_sdk_kwargs(
            job_display_name="j",
            model_name="publishers/google/models/gemini-2.0-flash-001",
            gcs_source="gs://b/in.jsonl",
            gcs_destination_prefix="gs://b/out",
            credentials=object(),
        )
    assert "credentials" in err.value.fields


def _event() -> JobEvent:
    return JobEvent.create(
        type="job.succeeded", submission_id="b" * 32, state="SUCCEEDED", previous_state="RUNNING"
    )


def test_webhook_secret_is_never_logged_sent_or_shown(log_stream: io.StringIO) -> None:
    seen: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    hook = Webhook(
        url="https://receiver.example/hook",
        secret=WEBHOOK_SECRET,
        budget_s=0.5,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        client=httpx.Client(transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(HandlerError) as err:
        hook(_event())
    assert seen, "the webhook never called the receiver"
    everything = log_stream.getvalue() + repr(hook) + str(err.value)
    for request in seen:
        everything += request.content.decode() + json.dumps(dict(request.headers))
    assert "webhook.attempt_failed" in everything
    assert WEBHOOK_SECRET not in everything


def test_webhook_signature_binds_the_timestamp_so_replays_fail() -> None:
    captured: list[httpx.Request] = []

    def accept(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(204)

    hook = Webhook(
        url="https://receiver.example/hook",
        secret=WEBHOOK_SECRET,
        client=httpx.Client(transport=httpx.MockTransport(accept)),
    )
    assert hook.deliver(_event()) == 204
    req = captured[0]
    ts, sig, body = req.headers["X-Vbq-Timestamp"], req.headers["X-Vbq-Signature"], req.content
    assert req.headers["X-Vbq-Event-Id"] == _event().event_id  # receivers dedupe on it
    secrets = [WEBHOOK_SECRET]
    now = float(ts)
    assert verify(secrets=secrets, body=body, timestamp=ts, signature=sig, now_s=now) == "ok"
    # Replayed later with the captured headers: stale.
    late = now + 301
    assert verify(secrets=secrets, body=body, timestamp=ts, signature=sig, now_s=late) == (
        SignatureCheck.STALE
    )
    # Replayed later with a fresh timestamp: the signature no longer matches.
    fresh = str(int(late))
    assert verify(secrets=secrets, body=body, timestamp=fresh, signature=sig, now_s=late) == (
        SignatureCheck.BAD_SIGNATURE
    )
    # A tampered body, or the wrong secret, fails too.
    assert verify(secrets=secrets, body=body + b" ", timestamp=ts, signature=sig, now_s=now) == (
        SignatureCheck.BAD_SIGNATURE
    )
    assert verify(secrets=["other"], body=body, timestamp=ts, signature=sig, now_s=now) == (
        SignatureCheck.BAD_SIGNATURE
    )
