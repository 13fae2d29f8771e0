"""Backoff and scheduling arithmetic shared by the worker tasks (pure functions)."""

from __future__ import annotations

import random
from typing import Any

from vbq.broker.app import capped_countdown
from vbq.errors import VertexError
from vbq.settings import Settings

__all__ = ["backoff_s", "capped", "granted"]


def backoff_s(
    settings: Settings,
    attempt: int,
    error: VertexError | None = None,
    *,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: truncated exponential, full jitter.

    ``uniform(0, min(retry_max_s, retry_base_s * 2**attempt))``, never below the server's
    ``Retry-After`` (``error.retry_after_s``), and capped by :func:`capped`.
    """
    r = rng or random
    ceiling = min(settings.retry_max_s, settings.retry_base_s * (2 ** min(max(attempt, 0), 62)))
    wait = r.uniform(0.0, ceiling)
    if error is not None and error.retry_after_s:
        wait = max(wait, float(error.retry_after_s))
    return capped(settings, wait)


def capped(settings: Settings, countdown_s: float) -> float:
    """``countdown_s`` limited to ``[0, visibility_timeout_s / 2]`` seconds.

    On Redis, a message whose ETA lies beyond the visibility timeout is delivered again and
    again, so no vbq task ever schedules itself further out than half of it
    (:func:`vbq.broker.app.capped_countdown`).
    """
    return capped_countdown(settings, countdown_s)


def granted(answer: Any) -> bool:
    """Read a limiter or slot answer: a bool, or an object with ``allowed`` / ``granted``."""
    if isinstance(answer, bool):
        return answer
    for name in ("allowed", "granted", "ok"):
        value = getattr(answer, name, None)
        if isinstance(value, bool):
            return value
    return bool(answer)
