"""The emulators' own errors: one root, :class:`EmulatorError`.

::

    EmulatorError
    ├── EmulatorConfigError   a bad setting, config file, filter or port (also a ValueError)
    ├── ApiError              a Vertex REST answer to send back (HTTP status + Google's status)
    ├── StatusError           a Pub/Sub gRPC status to send back (vbq_emulators.pubsub.status)
    ├── SchemaDefinitionError a Pub/Sub schema definition that does not parse or breaks a rule
    └── SchemaMessageError    a message that does not match a Pub/Sub schema

They stand for what Google would answer, so none of them is a :class:`vbq.errors.VbqError`:
the emulators never share an error type with the code they stand in for.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "EmulatorConfigError",
    "EmulatorError",
    "SchemaDefinitionError",
    "SchemaMessageError",
]


class EmulatorError(Exception):
    """Root of every error an emulator raises."""


class EmulatorConfigError(EmulatorError, ValueError):
    """A setting, config file, filter expression or listening address is not usable."""


class ApiError(EmulatorError):
    """A Vertex REST error the emulator answers with, as Google's JSON envelope.

    Attributes:
        status_code: HTTP status (400, 404, 429, ...).
        status: Google's canonical status name (``INVALID_ARGUMENT``).
        message: the error message, naming the field where Google does.
        retry_after_s: seconds for a ``Retry-After`` header, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        status: str,
        retry_after_s: float | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.status = status
        self.retry_after_s = retry_after_s
        super().__init__(f"{status_code} {status}: {message}")

    @property
    def retryable(self) -> bool:
        """True for answers a client should retry (429 and 5xx other than 501)."""
        return self.status_code in {429, 500, 502, 503, 504}


class SchemaDefinitionError(EmulatorError):
    """A schema definition that does not parse, or breaks one of Pub/Sub's rules (one top-level
    type, no imports); the message says why."""


class SchemaMessageError(EmulatorError):
    """Message data that does not match a schema; the message says where and why."""
