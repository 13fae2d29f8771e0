"""The submit path's hook for oversized Gemini inputs (one call in :class:`Submitter.run`).

A Gemini submission with a Cloud Storage JSONL input is held in ACCEPTED until the splitter
(``vbq.split``, :mod:`vbq.workers.splitter`) has measured its input: within the limits
(``VBQ_PACK_MAX_ROWS`` requests, ``VBQ_PACK_MAX_BYTES`` bytes) it is marked ``whole`` and
submitted as usual; over them it becomes a parent of parts, each its own submission and Vertex
job. The hook costs one ``GET`` per attempt for such submissions and nothing for others.
Packs of requests and parts are within the limits by construction and never held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis as redis_lib

from vbq.settings import Settings

__all__ = ["SplitHook", "marker_key", "splittable"]

WHOLE = "whole"
SPLIT = "split"


def marker_key(submission_id: str) -> str:
    """``whole`` (submit as is) or ``split`` (parts being made): the splitter's verdict."""
    return f"vbq:split:{submission_id}"


def splittable(rec: Any, settings: Settings) -> bool:
    """Whether ``rec`` is a Gemini submission with a ``gs://`` JSONL input vbq may split."""
    if not settings.split_inputs or not settings.pack_prefix:
        return False
    meta = rec.metadata or {}
    if "vbq_pack" in meta or "vbq_split" in meta:
        return False
    if "/publishers/google/models/gemini" not in f"/{rec.model or ''}":
        return False
    spec = rec.spec
    sources = tuple(spec.gcs_source or ())
    return (
        bool(sources)
        and spec.instances_format == "jsonl"
        and all(s.startswith("gs://") for s in sources)
    )


class SplitHook:
    """Holds splittable submissions until the splitter decided.

    Args:
        redis: the vbq Redis.
        settings: ``VBQ_SPLIT_INPUTS``, ``VBQ_PACK_PREFIX``.
        send_split: publishes ``vbq.split`` for a submission id.
    """

    def __init__(
        self, *, redis: redis_lib.Redis, settings: Settings, send_split: Callable[[str], Any]
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.send_split = send_split

    def hold(self, rec: Any) -> str | None:
        """None to submit ``rec`` now; else why it waits (the split task was sent; if its
        message is lost, the submit task's own retry a minute later comes back here)."""
        if not splittable(rec, self.settings):
            return None
        marker = self.redis.get(marker_key(rec.id))
        text = marker.decode() if isinstance(marker, bytes) else marker
        if text == WHOLE:
            return None
        self.send_split(rec.id)
        return "splitting" if text == SPLIT else "measuring input"
