"""Auth headers: cached tokens, one refresh under concurrency, anonymous for emulators."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import google.auth
import google.auth.exceptions
import httpx
import pytest

from tests.unit.vertex.helpers import JOB, make_client
from vbq.errors import ConfigError, VertexPermanentError, VertexRetryableError
from vbq.settings import Settings
from vbq.vertex import AnonymousAuth, GoogleAuth


class FakeCredentials:
    """Counts refreshes; each refresh issues a new token valid for ``lifetime_s``."""

    def __init__(self, *, lifetime_s: float = 3600.0, refresh_s: float = 0.0) -> None:
        self.token: str | None = None
        self.expiry: dt.datetime | None = None
        self.quota_project_id: str | None = None
        self.lifetime_s = lifetime_s
        self.refresh_s = refresh_s
        self.refreshes = 0
        self.fail_with: Exception | None = None

    def refresh(self, request: Any) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        time.sleep(self.refresh_s)  # widen the race window
        self.refreshes += 1
        self.token = f"ya29.token-{self.refreshes}"
        # google-auth stores naive UTC datetimes
        self.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(
            seconds=self.lifetime_s
        )


def _auth(creds: FakeCredentials, **kwargs: Any) -> GoogleAuth:
    return GoogleAuth(credentials=creds, request_factory=object, **kwargs)


def test_token_is_cached() -> None:
    creds = FakeCredentials()
    auth = _auth(creds)
    first = auth.headers()
    second = auth.headers()
    assert first == second == {"authorization": "Bearer ya29.token-1"}
    assert creds.refreshes == 1


def test_refreshed_when_near_expiry() -> None:
    creds = FakeCredentials(lifetime_s=3600)
    now = [dt.datetime.now(dt.UTC)]
    auth = _auth(creds, refresh_margin_s=300, clock=lambda: now[0])
    auth.headers()
    now[0] += dt.timedelta(seconds=3600 - 301)
    assert auth.headers()["authorization"].endswith("token-1")
    now[0] += dt.timedelta(seconds=2)  # now within the margin
    assert auth.headers()["authorization"].endswith("token-2")
    assert creds.refreshes == 2


def test_token_without_expiry_is_not_refreshed() -> None:
    creds = FakeCredentials()
    creds.token = "ya29.forever"
    auth = _auth(creds)
    for _ in range(3):
        assert auth.headers() == {"authorization": "Bearer ya29.forever"}
    assert creds.refreshes == 0


def test_one_refresh_for_eight_threads() -> None:
    creds = FakeCredentials(refresh_s=0.2)
    auth = _auth(creds)
    barrier = threading.Barrier(8)
    results: list[dict[str, str]] = []
    lock = threading.Lock()

    def work() -> None:
        barrier.wait()
        headers = auth.headers()
        with lock:
            results.append(headers)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 8
    assert creds.refreshes == 1
    assert auth.refresh_count == 1
    assert all(h == {"authorization": "Bearer ya29.token-1"} for h in results)


def test_quota_project_header() -> None:
    creds = FakeCredentials()
    creds.quota_project_id = "billing-proj"
    assert _auth(creds).headers()["x-goog-user-project"] == "billing-proj"


def test_refresh_failures_map_to_vertex_errors() -> None:
    creds = FakeCredentials()
    creds.fail_with = google.auth.exceptions.TransportError("metadata server down")
    with pytest.raises(VertexRetryableError):
        _auth(creds).headers()
    creds.fail_with = google.auth.exceptions.RefreshError("invalid_grant")
    with pytest.raises(VertexPermanentError) as info:
        _auth(creds).headers()
    assert info.value.status == "UNAUTHENTICATED"
    creds.fail_with = google.auth.exceptions.RefreshError("5xx", retryable=True)
    with pytest.raises(VertexRetryableError):
        _auth(creds).headers()


def test_no_adc_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_adc(**_: Any) -> Any:
        raise google.auth.exceptions.DefaultCredentialsError("nothing found")

    monkeypatch.setattr(google.auth, "default", no_adc)
    with pytest.raises(ConfigError, match="Application Default Credentials"):
        GoogleAuth().headers()


def test_adc_requested_with_cloud_platform_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    creds = FakeCredentials()

    def default(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return creds, "proj"

    monkeypatch.setattr(google.auth, "default", default)
    auth = GoogleAuth(request_factory=object)
    auth.headers()
    auth.headers()
    assert seen == {"scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
    assert creds.refreshes == 1


def test_client_sends_bearer_token_to_google(monkeypatch: pytest.MonkeyPatch) -> None:
    creds = FakeCredentials()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"name": JOB})

    client = make_client(handler, settings=Settings(location="europe-west4"), credentials=creds)
    client.get_batch_prediction_job(JOB)
    client.get_batch_prediction_job(JOB)
    assert [r.headers["authorization"] for r in seen] == ["Bearer ya29.token-1"] * 2
    assert seen[0].url.host == "europe-west4-aiplatform.googleapis.com"
    assert seen[0].url.scheme == "https"
    assert creds.refreshes == 1


def test_emulator_gets_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_be_called(**_: Any) -> Any:
        raise AssertionError("ADC looked up for an emulator")

    monkeypatch.setattr(google.auth, "default", must_not_be_called)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"name": JOB})

    client = make_client(handler)  # endpoint = a loopback emulator
    client.get_batch_prediction_job(JOB)
    assert "authorization" not in seen[0].headers
    assert AnonymousAuth().headers() == {}


def test_fork_resets_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    creds = FakeCredentials()
    auth = _auth(creds)
    auth.headers()
    # Simulate a fork that happened while another thread held the lock.
    auth._lock.get().acquire()
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)
    assert auth.headers() == {"authorization": "Bearer ya29.token-1"}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog and the root logger back as they were after the test."""
    import logging

    import structlog

    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


@pytest.mark.usefixtures("restore_logging")
def test_token_never_reaches_errors_or_logs() -> None:
    import io

    from vbq.logs import configure_logging

    creds = FakeCredentials()
    stream = io.StringIO()
    configure_logging(log_format="json", level="DEBUG", stream=stream, force=True)
    answers = iter(
        [
            httpx.Response(401, json={"error": {"code": 401, "message": "bad token"}}),
            httpx.Response(200, json={"name": JOB}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(":cancel"):
            raise httpx.ReadTimeout("timed out", request=request)
        return next(answers)

    client = make_client(handler, settings=Settings(location="europe-west4"), credentials=creds)
    errors: list[Exception] = []
    for call in (client.get_batch_prediction_job, client.cancel_batch_prediction_job):
        try:
            call(JOB)
        except Exception as exc:
            errors.append(exc)
    client.get_batch_prediction_job(JOB)
    token = creds.token
    assert token and len(errors) == 2
    assert "vertex.call" in stream.getvalue()  # the calls were logged...
    for text in [stream.getvalue(), *map(str, errors), *map(repr, errors)]:
        assert token not in text  # ...without the token
