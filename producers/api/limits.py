"""Input limits of the HTTP API: body size on the raw stream, JSON nesting depth.

The size limit is an ASGI middleware so that it holds before anything parses the body: a
``Content-Length`` over the limit is refused at once, and a chunked body is counted while it
streams and refused as soon as it passes the limit (the rest is never buffered).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vbq.producers.api.problems import ProblemError, problem_response

__all__ = ["DEFAULT_MAX_JSON_DEPTH", "BodySizeLimit", "json_depth", "parse_json_body"]

DEFAULT_MAX_JSON_DEPTH = 32
"""Deepest nesting accepted in a request body (objects and arrays). A job request needs ~6."""


class BodySizeLimit:
    """ASGI middleware answering 413 (problem+json) when a request body exceeds ``max_bytes``.

    Args:
        app: the wrapped ASGI app.
        max_bytes: largest accepted body in bytes.
        refusal: ``(scope, size, max_bytes) -> Response | None``, another answer for some
            paths (Google's envelope on the Google surface); None falls back to problem+json.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        refusal: Callable[[Scope, int, int], Response | None] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send, declared)
            return
        # Read the body here, bounded, then replay it: the app never sees more than max_bytes.
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_bytes:
                await self._refuse(scope, receive, send, total)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replay: list[Message] = [
            {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        ]

        async def replay_receive() -> Message:
            if replay:
                return replay.pop()
            return await receive()

        await self.app(scope, replay_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        other = self.refusal(scope, size, self.max_bytes) if self.refusal else None
        if other is not None:
            await other(scope, receive, send)
            return
        response = problem_response(
            413,
            "body-too-large",
            f"request body is larger than {self.max_bytes} bytes (at least {size})",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``{}`` and ``[]`` are 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            depth += 1
            stack.extend((v, depth) for v in item.values())
        elif isinstance(item, list):
            depth += 1
            stack.extend((v, depth) for v in item)
        deepest = max(deepest, depth)
    return deepest


def parse_json_body(raw: bytes, *, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """Parse a request body as JSON within the depth limit.

    Raises:
        ProblemError: 400 when the body is empty, not UTF-8, not JSON, or nested deeper than
            ``max_depth``.
    """
    if not raw.strip():
        raise ProblemError(400, "invalid-json", "request body is empty; expected a JSON object")
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ProblemError(400, "invalid-json", "request body is not UTF-8") from None
    except RecursionError:
        # The C decoder guards its recursion, so hostile nesting ends here, not in a crash.
        raise ProblemError(
            400, "json-too-deep", f"JSON is nested deeper than {max_depth} levels"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and NaN/Infinity refused below
        raise ProblemError(400, "invalid-json", f"request body is not JSON: {exc}") from None
    if json_depth(value) > max_depth:
        raise ProblemError(400, "json-too-deep", f"JSON is nested deeper than {max_depth} levels")
    return value


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259) and would not survive a round trip to Google.
    raise ValueError(f"{name} is not allowed in JSON")
