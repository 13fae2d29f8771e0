"""Long-running ``Operation`` resources of the emulator (only deletes create them).

An operation is done ``done_after_s`` seconds after it was created; then it carries
``response: google.protobuf.Empty`` as Google's delete operations do. Its ``metadata`` is a
``DeleteOperationMetadata`` of the job's API version, which the SDK knows how to parse.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from vbq_emulators.vertex.wire import api_error, rfc3339

__all__ = ["OperationBook"]


@dataclass(frozen=True, kw_only=True)
class _Operation:
    name: str
    api_version: str
    created_s: float
    done_s: float


class OperationBook:
    """Operations by name; not thread-safe on its own (the job store's lock guards it)."""

    def __init__(self) -> None:
        self._ops: dict[str, _Operation] = {}

    def add(self, name: str, *, api_version: str, done_after_s: float) -> dict[str, Any]:
        """Record a new operation; returns its resource as of now."""
        now = time.time()
        op = _Operation(
            name=name, api_version=api_version, created_s=now, done_s=now + done_after_s
        )
        self._ops[name] = op
        return _render(op, now)

    def get(self, name: str) -> dict[str, Any]:
        """The operation resource as of now.

        Raises:
            ApiError: 404 NOT_FOUND.
        """
        op = self._ops.get(name)
        if op is None:
            raise api_error(404, f'Operation "{name}" not found.')
        return _render(op, time.time())


def _render(op: _Operation, now: float) -> dict[str, Any]:
    done = now >= op.done_s
    meta_type = f"type.googleapis.com/google.cloud.aiplatform.{op.api_version}"
    out: dict[str, Any] = {
        "name": op.name,
        "metadata": {
            "@type": f"{meta_type}.DeleteOperationMetadata",
            "genericMetadata": {
                "createTime": rfc3339(op.created_s),
                "updateTime": rfc3339(op.done_s if done else op.created_s),
            },
        },
        "done": done,
    }
    if done:
        out["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
    return out
