"""Deleting a job: a long-running Operation, optionally waited for.

A mixin of :class:`vbq.vertex.VertexClient`. ``DELETE`` answers with an Operation; with
``wait=True`` the client polls it (``GET /v1/{operation}``, backoff 0.1 s doubling to 2 s) until
it is done or the whole ``timeout_s`` budget is spent.
"""

from __future__ import annotations

import time
from typing import Any

from vbq.errors import VertexPermanentError, VertexRetryableError
from vbq.vertex.error_mapping import error_from_operation
from vbq.vertex.names import check_name
from vbq.vertex.transport import RestSession

__all__ = ["JobDeletion"]


class JobDeletion:
    """``delete_batch_prediction_job`` and ``get_operation`` over a REST session."""

    _rest: RestSession

    def delete_batch_prediction_job(
        self, name: str, *, wait: bool = False, timeout_s: float = 60.0
    ) -> dict[str, Any]:
        """Delete a finished job (``DELETE /v1/{name}``); returns the long-running Operation.

        Args:
            name: the job's resource name.
            wait: poll the operation (``GET /v1/{operation}``) until it is ``done``.
            timeout_s: the whole budget in seconds, waiting included.

        Returns:
            The Operation (``{"name", "done", ...}``); with ``wait`` it is done. A delete sent
            again after a lost answer may get 404 ``NOT_FOUND``: the job is already gone.

        Raises:
            VertexRetryableError: 429, 5xx, timeouts; or the operation was not done within
                ``timeout_s`` (``DEADLINE_EXCEEDED``), or it failed with a transient code.
            VertexPermanentError: 404, 400 (job not finished), or the operation failed for good.
        """
        check_name(name, kind="name", method="delete")
        deadline = time.monotonic() + timeout_s
        operation = self._rest.call(
            "delete",
            "DELETE",
            f"/v1/{name}",
            routing=("name", name),
            timeout_s=min(self._rest.timeout_s, timeout_s),
        )
        delay_s = 0.1
        while True:
            if operation.get("done"):
                if operation.get("error"):
                    raise error_from_operation(operation, method="delete")
                return operation
            if not wait:
                return operation
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise VertexRetryableError(
                    f"operation {operation.get('name', '?')} not done within {timeout_s}s",
                    status="DEADLINE_EXCEEDED",
                    method="delete",
                )
            time.sleep(min(delay_s, remaining_s))
            delay_s = min(delay_s * 2, 2.0)
            op_name = operation.get("name")
            if not isinstance(op_name, str):
                raise VertexPermanentError(
                    "delete answered with an operation without a name",
                    status="UNKNOWN",
                    method="delete",
                )
            operation = self.get_operation(
                op_name, timeout_s=max(0.1, min(self._rest.timeout_s, deadline - time.monotonic()))
            )

    def get_operation(self, name: str, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Get a long-running operation (``GET /v1/{name}``).

        Raises:
            VertexRetryableError: 429, 5xx, timeouts, connection failures.
            VertexPermanentError: 404, a malformed name, ...
        """
        check_name(name, kind="operation", method="get_operation")
        return self._rest.call(
            "get_operation",
            "GET",
            f"/v1/{name}",
            routing=("name", name),
            timeout_s=timeout_s,
        )
