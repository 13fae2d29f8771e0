"""The one error tree of vbq.

Every exception vbq raises on purpose derives from :class:`VbqError`. The tree is shallow on
purpose (httpx's ``_exceptions.py`` is the model)::

    VbqError
    ├── ConfigError                  settings or CLI options are wrong
    ├── SpecError                    a job spec broke a rule (names the field and the rule)
    ├── FilterError                  a list filter does not follow Google's grammar
    ├── EventError                   a Pub/Sub event could not be parsed or is invalid
    ├── StoreError                   the job store refused an operation
    │   ├── NotFoundError            no such submission
    │   │   └── SubmissionExpiredError  it finished and left the store after the retention window
    │   ├── IdempotencyConflictError same idempotency key, different spec
    │   ├── StateConflictError       compare-and-set lost: the record changed underneath
    │   ├── TenantAccessError        the record belongs to another tenant
    │   ├── TenantCapError           a per-tenant cap refuses the request (nothing was written)
    │   └── ReplicationTimeoutError  too few replicas confirmed a new submission in time
    ├── VertexError                  the Vertex AI REST API answered with an error
    │   ├── VertexRetryableError     429/500/502/503/504, timeouts, connection errors before send
    │   ├── VertexAmbiguousError     the request may have been applied (create sent, no answer)
    │   └── VertexPermanentError     400/401/403/404/409 and other final refusals
    ├── PubSubError                  publishing or subscribing failed
    │   └── PushRequestError         an HTTP push request is malformed or not authenticated
    ├── HandlerError                 a subscriber handler failed (the message is nacked)
    └── OutputsError                 a job's outputs cannot be read (not succeeded, no location)

``retryable`` is a property of the class: callers ask ``err.retryable`` instead of matching
status codes. :class:`VertexAmbiguousError` is retryable only after reconciliation (list by
the submission label before creating again), so it says ``retryable = True`` and
``ambiguous = True``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "EventError",
    "FilterError",
    "HandlerError",
    "IdempotencyConflictError",
    "NotFoundError",
    "OutputsError",
    "PubSubError",
    "PushRequestError",
    "ReplicationTimeoutError",
    "SpecError",
    "StateConflictError",
    "StoreError",
    "SubmissionExpiredError",
    "TenantAccessError",
    "TenantCapError",
    "VbqError",
    "VertexAmbiguousError",
    "VertexError",
    "VertexPermanentError",
    "VertexRetryableError",
]


class VbqError(Exception):
    """Root of every error vbq raises on purpose."""

    retryable: bool = False
    ambiguous: bool = False


class ConfigError(VbqError):
    """A setting (environment variable, CLI option, rule file) is missing or invalid."""


class SpecError(VbqError, ValueError):
    """A job spec broke a rule.

    Args:
        errors: one ``{"field": ..., "rule": ..., "message": ...}`` dict per broken rule;
            ``field`` is the SDK's parameter name (``gcs_source``, ``labels.team``).
    """

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))

    @property
    def fields(self) -> list[str]:
        """The names of the fields that broke a rule, in order."""
        return [e["field"] for e in self.errors]

    @classmethod
    def single(cls, field: str, rule: str, message: str) -> SpecError:
        """Build an error for exactly one broken rule."""
        return cls([{"field": field, "rule": rule, "message": message}])


class FilterError(VbqError, ValueError):
    """A ``filter`` expression of a list call does not follow Google's grammar, names an
    unknown field, or uses an operator its field does not support (the message says which)."""


class EventError(VbqError, ValueError):
    """A job event message could not be parsed or failed validation."""


class StoreError(VbqError):
    """The job store refused an operation."""


class NotFoundError(StoreError, KeyError):
    """No submission with that id (or visible to that tenant)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class SubmissionExpiredError(NotFoundError):
    """The submission finished and left the store after the retention window
    (``VBQ_RETENTION_S``), and its archived record cannot be read (not archived, or the
    archive object is gone). Carries ``submission_id`` and ``finished_date`` (YYYY-MM-DD)."""

    def __init__(self, submission_id: str, *, finished_date: str, reason: str) -> None:
        self.submission_id = submission_id
        self.finished_date = finished_date
        super().__init__(
            f"submission {submission_id} finished on {finished_date} and expired from the "
            f"store after the retention window; {reason}"
        )


class IdempotencyConflictError(StoreError):
    """The idempotency key is already bound to a submission with a different spec."""

    def __init__(self, key: str, submission_id: str) -> None:
        self.key = key
        self.submission_id = submission_id
        super().__init__(
            f"idempotency_key {key!r} is already used by submission {submission_id} "
            "with a different spec"
        )


class StateConflictError(StoreError):
    """A compare-and-set lost: the record was not in the expected state."""

    def __init__(self, submission_id: str, expected: Any, actual: Any) -> None:
        self.submission_id = submission_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"submission {submission_id}: expected state {expected}, found {actual}")


class TenantAccessError(StoreError):
    """The caller's tenant may not see or change this submission."""


class TenantCapError(StoreError):
    """A per-tenant cap refuses the request; nothing was written.

    The HTTP API answers 429 with ``Retry-After`` (Google's surface: ``RESOURCE_EXHAUSTED`` with
    ``RetryInfo``); asking again later may succeed, hence ``retryable``.

    Attributes:
        tenant: the tenant whose cap was hit.
        cap: which cap, as its setting's name (``max_queued``, ``max_in_flight``, ...).
        limit: the cap's value.
        retry_after_s: an estimate of when asking again may succeed, in seconds.
    """

    retryable = True

    def __init__(self, *, tenant: str, cap: str, limit: float, retry_after_s: float = 1.0) -> None:
        self.tenant = tenant
        self.cap = cap
        self.limit = limit
        self.retry_after_s = retry_after_s
        super().__init__(
            f"tenant {tenant!r} is at its {cap} cap ({limit:g}); retry in {retry_after_s:g} s"
        )


class ReplicationTimeoutError(StoreError):
    """Too few Redis replicas confirmed a write within the timeout (``WAIT``).

    The write reached the primary, so it is usually kept; but if the primary fails before a
    replica copies it, it is lost. vbq therefore does not acknowledge it: ``submit()`` raises
    this instead of returning an id. Retry with the same ``idempotency_key`` (the retry
    returns the same submission once a replica has it); without a key a retry may create a
    second submission. Retryable (the HTTP API answers 503).

    Attributes:
        wanted: replicas that had to confirm (``VBQ_REDIS_WAIT_REPLICAS``).
        confirmed: replicas that did within the timeout.
        timeout_s: the timeout, in seconds (``VBQ_REDIS_WAIT_TIMEOUT_S``).
    """

    retryable = True

    def __init__(self, *, wanted: int, confirmed: int, timeout_s: float) -> None:
        self.wanted = wanted
        self.confirmed = confirmed
        self.timeout_s = timeout_s
        super().__init__(
            f"only {confirmed} of {wanted} Redis replicas confirmed the write within "
            f"{timeout_s:g} s; not acknowledged (retry with the same idempotency_key)"
        )


class VertexError(VbqError):
    """The Vertex AI REST API answered with an error, or could not be reached.

    Attributes:
        status_code: HTTP status (0 when no response arrived).
        status: Google's canonical status name (``RESOURCE_EXHAUSTED``), when known.
        message: Google's error message, verbatim.
        retry_after_s: the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 0,
        status: str = "",
        retry_after_s: float | None = None,
        method: str = "",
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.status = status
        self.retry_after_s = retry_after_s
        self.method = method
        prefix = f"{method}: " if method else ""
        code = f"{status_code} {status}".strip()
        super().__init__(
            f"{prefix}{code}: {message}" if code and code != "0" else f"{prefix}{message}"
        )


class VertexRetryableError(VertexError):
    """Transient: 429, 500, 502, 503, 504, timeouts, connection errors. Retry with backoff."""

    retryable = True


class VertexAmbiguousError(VertexError):
    """The request may have been applied (a create whose body was sent but got no answer).

    Reconcile (list by the submission label) before sending it again.
    """

    retryable = True
    ambiguous = True


class VertexPermanentError(VertexError):
    """A final refusal (400, 401, 403, 404, 409, ...): retrying cannot help."""


class PubSubError(VbqError):
    """Publishing to or pulling from Pub/Sub failed."""

    retryable = True


class PushRequestError(PubSubError, ValueError):
    """An HTTP push request that cannot be handled: not a Pub/Sub push, or its OIDC token is
    missing or invalid.

    Attributes:
        status: the HTTP status to answer (400, 401, 403, 413); Pub/Sub retries any of them.
    """

    def __init__(self, message: str, *, status: int) -> None:
        self.status = status
        super().__init__(message)


class HandlerError(VbqError):
    """A subscriber handler raised; the message is nacked and redelivered."""

    retryable = True


class OutputsError(VbqError, ValueError):
    """A job's outputs cannot be read: the job did not (partially) succeed, it names no output
    location, or a file could not be listed or parsed.

    Like the SDK's ``iter_outputs()`` refusing an unfinished job; a ``ValueError`` too, so
    callers that guard reads with ``except ValueError`` keep working.
    """
