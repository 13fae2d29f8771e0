"""``ApiKeyCredentials``: the vbq key goes to vbq api only; other Google APIs get the fallback."""

from __future__ import annotations

from typing import Any

from vbq.producers import ApiKeyCredentials


class Fallback:
    def __init__(self) -> None:
        self.refreshed = 0

    def refresh(self, request: Any) -> None:
        self.refreshed += 1

    def before_request(self, request: Any, method: str, url: str, headers: dict[str, str]) -> None:
        headers["authorization"] = "Bearer adc-token"


def test_the_key_goes_to_vbq_and_the_fallback_elsewhere() -> None:
    fallback = Fallback()
    creds = ApiKeyCredentials(
        "vbq_secret", endpoint="https://vbq.internal:8080/", fallback=fallback
    )
    assert creds.valid and not creds.expired and creds.token == "vbq_secret"
    for url, expected in (
        ("https://vbq.internal:8080/v1/projects/p/locations/l/batchPredictionJobs", "vbq_secret"),
        ("https://vbq.internal:8080", "vbq_secret"),
        ("https://vbq.internal:80801/v1/x", "adc-token"),
        ("https://storage.googleapis.com/storage/v1/b/x/o", "adc-token"),
    ):
        headers: dict[str, str] = {}
        creds.before_request(None, "GET", url, headers)
        assert headers["authorization"] == f"Bearer {expected}", url
    creds.refresh(None)
    assert fallback.refreshed == 1
    assert "vbq_secret" not in repr(creds)


def test_without_a_fallback_the_key_goes_everywhere() -> None:
    creds = ApiKeyCredentials("vbq_k", endpoint="http://127.0.0.1:8080")
    headers: dict[str, str] = {}
    creds.before_request(None, "GET", "http://elsewhere/x", headers)
    assert headers == {"authorization": "Bearer vbq_k"}
    creds.refresh(None)
