"""POST job events to a URL, signed, with retries; never drop one.

The body is the event JSON exactly as published (``JobEvent.to_json()``); headers::

    Content-Type: application/json
    X-Vbq-Event-Id: {event_id}          receivers deduplicate on it
    X-Vbq-Timestamp: {unix seconds}     renewed on every attempt
    X-Vbq-Signature: v1={hex hmac-sha256(secret, f"{timestamp}.{body}")}

A delivery retries connection errors, timeouts, 408, 425, 429 and 5xx with exponential backoff
and jitter (honouring ``Retry-After``) for at most ``budget_s``; then it raises
:class:`~vbq.errors.HandlerError`, the subscriber nacks the message and Pub/Sub redelivers it
later (after 5 deliveries it goes to the dead-letter topic, still not lost). Any other answer
(400, 401, 404, ...) raises at once: retrying within the handler cannot fix it.

The secret comes from an environment variable named by ``secret_env``; it never appears in a
log line, an error or a ``repr``. URLs are logged by host only (paths often hold tokens).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Mapping

import httpx

from vbq.errors import ConfigError, HandlerError
from vbq.events import JobEvent
from vbq.logs import get_logger
from vbq.subscribers.actions.signature import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_header,
)

__all__ = ["RETRYABLE_STATUS", "Webhook"]

RETRYABLE_STATUS = frozenset({408, 425, 429})
"""Besides every 5xx: answers worth another attempt within the budget."""

_log = get_logger("vbq.actions.webhook")


class Webhook:
    """A handler that POSTs each event to ``url``: ``Webhook(url=..., secret_env=...)(event)``.

    Args:
        url: where to POST (``http://`` or ``https://``).
        secret_env: name of the environment variable holding the signing secret.
        secret: the secret itself (Python use; configuration files take ``secret_env`` only).
        name: stable name of this action (handler name and logs); default from the URL.
        timeout_s: per-attempt timeout in seconds (connect, read, write, pool).
        budget_s: total time for all attempts of one delivery, in seconds, sleeps included.
        backoff_base_s: first backoff in seconds; doubles per attempt.
        backoff_max_s: largest backoff in seconds.
        headers: extra request headers.
        client: an ``httpx.Client`` to use (default: a pooled one owned by this object).
        sleep: ``time.sleep`` (tests).

    Raises:
        ConfigError: bad URL, no secret (``secret_env`` unset or empty), or bad durations.
    """

    def __init__(
        self,
        *,
        url: str,
        secret_env: str | None = None,
        secret: str | bytes | None = None,
        name: str | None = None,
        timeout_s: float = 5.0,
        budget_s: float = 10.0,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 4.0,
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ConfigError(
                f"webhook url must be http(s)://host/...; got scheme {parsed.scheme!r}"
            )
        if timeout_s <= 0 or budget_s <= 0 or backoff_base_s < 0 or backoff_max_s < 0:
            raise ConfigError("webhook timeout_s and budget_s must be > 0, backoffs >= 0")
        if secret is None:
            if not secret_env:
                raise ConfigError("webhook needs secret_env (the name of the secret's variable)")
            secret = os.environ.get(secret_env, "")
            if not secret:
                raise ConfigError(f"webhook secret variable {secret_env} is unset or empty")
        self._secret = secret
        self.url = url
        self.host = parsed.host
        self.name = name or f"webhook-{parsed.host}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"
        # The handler registry names a callable by __module__:__qualname__; make it stable.
        self.__qualname__ = f"Webhook[{self.name}]"
        self.timeout_s = timeout_s
        self.budget_s = budget_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.headers = dict(headers or {})
        self._owns_client = client is None
        self._client = client or httpx.Client(follow_redirects=False)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Webhook(name={self.name!r}, host={self.host!r})"

    def __call__(self, event: JobEvent) -> None:
        """Handler form of :meth:`deliver`."""
        self.deliver(event)

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def deliver(self, event: JobEvent) -> int:
        """POST ``event``; retry within the budget.

        Returns:
            The 2xx status code of the accepted attempt.

        Raises:
            HandlerError: the budget ran out, or the receiver gave a final refusal (4xx other
                than 408/425/429, 3xx). The message is then nacked and redelivered.
        """
        body = event.to_bytes()
        deadline = time.monotonic() + self.budget_s
        attempt = 0
        while True:
            attempt += 1
            remaining_s = deadline - time.monotonic()
            outcome, retry_after_s = self._attempt(event, body, min(self.timeout_s, remaining_s))
            if isinstance(outcome, int) and 200 <= outcome < 300:
                if attempt > 1:
                    _log.info(
                        "webhook.delivered",
                        host=self.host,
                        event_id=event.event_id,
                        attempts=attempt,
                        status=outcome,
                    )
                return outcome
            retryable = not isinstance(outcome, int) or _retryable(outcome)
            _log.warning(
                "webhook.attempt_failed",
                host=self.host,
                event_id=event.event_id,
                attempt=attempt,
                outcome=outcome,
                retryable=retryable,
            )
            if not retryable:
                raise HandlerError(
                    f"webhook {self.name} ({self.host}) refused event {event.event_id}: {outcome}"
                )
            delay_s = max(self._backoff_s(attempt), retry_after_s or 0.0)
            if time.monotonic() + delay_s >= deadline:
                raise HandlerError(
                    f"webhook {self.name} ({self.host}) did not accept event {event.event_id} "
                    f"within {self.budget_s:g}s ({attempt} attempts, last: {outcome}); "
                    "the message will be redelivered"
                )
            self._sleep(delay_s)

    # -- internals ------------------------------------------------------------------------------

    def _attempt(
        self, event: JobEvent, body: bytes, timeout_s: float
    ) -> tuple[int | str, float | None]:
        timestamp = int(time.time())
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "User-Agent": "vbq-webhook/1",
            EVENT_ID_HEADER: event.event_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(self._secret, timestamp, body),
        }
        try:
            response = self._client.post(
                self.url, content=body, headers=headers, timeout=max(timeout_s, 0.05)
            )
        except httpx.HTTPError as exc:
            return type(exc).__name__, None
        return response.status_code, _retry_after_s(response)

    def _backoff_s(self, attempt: int) -> float:
        cap = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        # "Equal jitter": never zero (no hot loop), spread so that many handlers desynchronise.
        return cap / 2 + random.uniform(0, cap / 2)


def _retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUS


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(str(value)))
    except ValueError:
        return None  # an HTTP date: rare from webhooks, backoff is good enough
