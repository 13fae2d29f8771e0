"""How retention is doing, for ``vbq doctor``: configured or not, and whether it keeps up."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from vbq.archive.archiver import PENDING_KEY
from vbq.settings import Settings
from vbq.store.keys import FINISHED_KEY

__all__ = ["BEHIND_AFTER_S", "RetentionStatus", "retention_status"]

BEHIND_AFTER_S = 3600.0
"""A submission due this long (past its retention window) and still in Redis means the
``vbq.retention`` task is not keeping up (or not running: is beat up?)."""


@dataclass(frozen=True, kw_only=True)
class RetentionStatus:
    """Retention as ``vbq doctor`` shows it.

    Attributes:
        level: ``OK`` or ``WARN``.
        text: one line for operators.
        due: finished submissions past the window still in Redis.
        in_window: finished submissions within the window.
    """

    level: Literal["OK", "WARN"]
    text: str
    due: int = 0
    in_window: int = 0


def retention_status(
    redis: Any, settings: Settings, *, now_s: float | None = None
) -> RetentionStatus:
    """Read ``vbq:finished`` (two ``ZCOUNT`` and the oldest entry) and judge.

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    if settings.retention_s <= 0:
        return RetentionStatus(
            level="WARN", text="VBQ_RETENTION_S=0: finished submissions never leave Redis"
        )
    now = time.time() if now_s is None else now_s
    cutoff = now - settings.retention_s
    due = int(redis.zcount(FINISHED_KEY, "-inf", cutoff))
    in_window = int(redis.zcount(FINISHED_KEY, f"({cutoff}", "+inf"))
    oldest = redis.zrange(FINISHED_KEY, 0, 0, withscores=True)
    days = settings.retention_s / 86400
    where = f"archived to {settings.archive_prefix}" if settings.archive_prefix else "not archived"
    text = f"kept {days:g} days, {where}; {in_window} in window, {due} due"
    if redis.exists(PENDING_KEY):
        text += ", a batch pending"
    if oldest and float(oldest[0][1]) < cutoff - BEHIND_AFTER_S:
        behind_h = (cutoff - float(oldest[0][1])) / 3600
        text += f"; BEHIND by {behind_h:.1f} h (is beat sending vbq.retention?)"
        return RetentionStatus(level="WARN", text=text, due=due, in_window=in_window)
    # Expiring without an archive is a choice (the text says so), not a fault.
    return RetentionStatus(level="OK", text=text, due=due, in_window=in_window)
