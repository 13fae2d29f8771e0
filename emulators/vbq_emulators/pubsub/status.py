"""The one error the Pub/Sub emulator raises: a gRPC status to send back to the client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status

from vbq_emulators.errors import EmulatorError

__all__ = ["StatusError"]


class StatusError(EmulatorError):
    """A request the emulator refuses, carrying the gRPC status code Google would send.

    Google's client reacts to the code (NOT_FOUND stops a subscriber, UNAVAILABLE makes it
    reconnect), so the code is part of the contract, not decoration.

    Attributes:
        code: the gRPC status code.
        message: the human-readable detail.
        details: protobuf messages sent as the status's details (``google.rpc.ErrorInfo``),
            which Google's clients expose as ``exc.details`` / ``exc.reason``.
    """

    def __init__(self, code: grpc.StatusCode, message: str, *, details: Sequence[Any] = ()) -> None:
        self.code = code
        self.message = message
        self.details = tuple(details)
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

    @classmethod
    def failed_precondition(cls, message: str) -> StatusError:
        """``FAILED_PRECONDITION`` for a request the resource's state does not allow."""
        return cls(grpc.StatusCode.FAILED_PRECONDITION, message)

    def with_details(self, *details: Any) -> StatusError:
        """The same status carrying ``details`` (``google.rpc.ErrorInfo`` and the like)."""
        return StatusError(self.code, self.message, details=details)

    def abort(self, context: grpc.ServicerContext) -> None:
        """End the RPC with this status (and its details, when there are any)."""
        if not self.details:
            context.abort(self.code, self.message)
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        for detail in self.details:
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        context.abort_with_status(rpc_status.to_status(status))
