"""Signatures: HMAC over timestamp and body, staleness, rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from vbq.subscribers.actions import SignatureCheck, sign, signature_header, verify

BODY = b'{"event_id": "e1"}'


def test_sign_is_hmac_sha256_of_timestamp_dot_body() -> None:
    want = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1700000000, BODY) == want
    assert signature_header(b"s3cret", 1700000000, BODY) == f"v1={want}"


def _check(**kw: object) -> SignatureCheck:
    args: dict[str, object] = {
        "secrets": ["s3cret"],
        "body": BODY,
        "timestamp": "1000",
        "signature": signature_header("s3cret", 1000, BODY),
        "now_s": 1000.0,
    }
    args.update(kw)
    return verify(**args)  # type: ignore[arg-type]


def test_valid_signature_passes() -> None:
    assert _check() is SignatureCheck.OK


@pytest.mark.parametrize(
    ("changes", "outcome"),
    [
        ({"body": BODY + b" "}, SignatureCheck.BAD_SIGNATURE),
        ({"secrets": ["other"]}, SignatureCheck.BAD_SIGNATURE),
        ({"timestamp": "1001"}, SignatureCheck.BAD_SIGNATURE),  # timestamp is signed
        ({"now_s": 1000.0 + 301}, SignatureCheck.STALE),
        ({"now_s": 1000.0 - 301}, SignatureCheck.STALE),  # too far in the future
        ({"timestamp": None}, SignatureCheck.MISSING),
        ({"signature": ""}, SignatureCheck.MISSING),
        ({"timestamp": "soon"}, SignatureCheck.MALFORMED),
        ({"signature": "sha256=abc"}, SignatureCheck.MALFORMED),
    ],
)
def test_refusals(changes: dict[str, object], outcome: SignatureCheck) -> None:
    assert _check(**changes) is outcome


def test_within_tolerance_passes() -> None:
    assert _check(now_s=1000.0 + 299) is SignatureCheck.OK
    assert _check(now_s=1000.0 + 20, tolerance_s=10) is SignatureCheck.STALE


def test_rotation_any_secret_any_offered_value() -> None:
    both = f"v1=deadbeef, {signature_header('new', 1000, BODY)}"
    assert _check(signature=both, secrets=["old", "new"]) is SignatureCheck.OK
    assert _check(signature=both, secrets=["old"]) is SignatureCheck.BAD_SIGNATURE
