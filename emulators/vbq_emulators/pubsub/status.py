"""The one error the Pub/Sub emulator raises: a gRPC status to send back to the client."""

from __future__ import annotations

import grpc

from vbq_emulators.errors import EmulatorError

__all__ = ["StatusError"]


class StatusError(EmulatorError):
    """A request the emulator refuses, carrying the gRPC status code Google would send.

    Google's client reacts to the code (NOT_FOUND stops a subscriber, UNAVAILABLE makes it
    reconnect), so the code is part of the contract, not decoration.

    Attributes:
        code: the gRPC status code.
        message: the human-readable detail.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        self.code = code
        self.message = message
        # Only UNAVAILABLE-like codes are worth retrying; a bad name never gets better.
        self.retryable = code in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED}
        super().__init__(f"{code.name}: {message}")

    @classmethod
    def not_found(cls, what: str) -> StatusError:
        """``NOT_FOUND`` for a topic or subscription (``what`` names the kind and path)."""
        return cls(grpc.StatusCode.NOT_FOUND, f"Resource not found ({what}).")

    @classmethod
    def already_exists(cls, what: str) -> StatusError:
        """``ALREADY_EXISTS`` for a create of an existing resource."""
        return cls(grpc.StatusCode.ALREADY_EXISTS, f"Resource already exists ({what}).")

    @classmethod
    def invalid_argument(cls, message: str) -> StatusError:
        """``INVALID_ARGUMENT`` for a malformed request."""
        return cls(grpc.StatusCode.INVALID_ARGUMENT, message)
