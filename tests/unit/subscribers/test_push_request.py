"""Reading push requests (both formats) and checking their OIDC tokens."""

from __future__ import annotations

import base64
import json
import time

import pytest
from vbq_emulators.pubsub.oidc import TokenSigner

from vbq.errors import PushRequestError
from vbq.subscribers.push_request import TokenVerifier, parse_push

SUB = "projects/p/subscriptions/s"


def envelope(**message: object) -> bytes:
    body = {
        "message": {
            "data": base64.b64encode(b'{"x": 1}').decode(),
            "attributes": {"event_id": "e"},
            "messageId": "7",
            "message_id": "7",
            "publishTime": "2026-01-02T03:04:05.678Z",
            "orderingKey": "k",
            **message,
        },
        "subscription": SUB,
        "deliveryAttempt": 3,
    }
    return json.dumps(body).encode()


def test_wrapped_envelope() -> None:
    message = parse_push({"content-type": "application/json"}, envelope())
    assert message.data == b'{"x": 1}'
    assert message.attributes == {"event_id": "e"}
    assert (message.message_id, message.delivery_attempt, message.ordering_key) == ("7", 3, "k")
    assert message.publish_time.isoformat() == "2026-01-02T03:04:05.678000+00:00"
    assert message.subscription == SUB
    message.ack()
    message.nack()  # the first outcome stands
    assert message.outcome == "ack"


def test_unwrapped_with_metadata() -> None:
    headers = {
        "x-goog-pubsub-message-id": "9",
        "x-goog-pubsub-publish-time": "2026-01-02T03:04:05Z",
        "x-goog-pubsub-subscription-name": SUB,
        "x-goog-pubsub-ordering-key": "k",
        "event_id": "e",
        "content-length": "3",
    }
    message = parse_push(headers, b"raw")
    assert (message.data, message.message_id, message.ordering_key) == (b"raw", "9", "k")
    assert message.attributes == {"event_id": "e"}
    assert message.delivery_attempt is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"message": {}}',
        envelope(data="***"),
        envelope(publishTime="yesterday"),
    ],
)
def test_malformed_requests_are_400(body: bytes) -> None:
    with pytest.raises(PushRequestError) as err:
        parse_push({}, body)
    assert err.value.status == 400


def verifier(signer: TokenSigner, **kw: object) -> TokenVerifier:
    fetched: list[str] = []

    def fetch(url: str) -> dict[str, str]:
        fetched.append(url)
        return signer.certs()

    options: dict[str, object] = {
        "audience": "https://push.example",
        "certs_url": "http://certs",
        "issuers": ["https://accounts.google.com"],
        "fetch": fetch,
        **kw,
    }
    return TokenVerifier(**options)  # type: ignore[arg-type]


def test_token_verification() -> None:
    signer = TokenSigner()
    email = "pusher@p.iam.gserviceaccount.com"
    token = signer.token(audience="https://push.example", email=email, now_s=time.time())
    assert verifier(signer).verify(f"Bearer {token}")["email"] == email
    assert verifier(signer, service_account=email).verify(f"Bearer {token}")["email"] == email
    cases = [
        (verifier(signer), "", 401),
        (verifier(signer), f"Basic {token}", 401),
        (verifier(signer, audience="https://other"), f"Bearer {token}", 401),
        (verifier(signer, issuers=["https://elsewhere"]), f"Bearer {token}", 401),
        (verifier(signer, service_account="other@p.iam"), f"Bearer {token}", 403),
        (verifier(TokenSigner()), f"Bearer {token}", 401),  # signed by another key
    ]
    for check, header, status in cases:
        with pytest.raises(PushRequestError) as err:
            check.verify(header)
        assert err.value.status == status, header
    expired = signer.token(audience="https://push.example", email=email, now_s=time.time() - 7200)
    with pytest.raises(PushRequestError):
        verifier(signer).verify(f"Bearer {expired}")
