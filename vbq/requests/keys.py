"""Redis keys of requests and packs (docs/contracts.md § Requests and packing), under ``vbq:``."""

from __future__ import annotations

__all__ = [
    "COUNTS_KEY",
    "PACKS_FLUSHED",
    "PACKS_OPEN",
    "PACKS_SEALED",
    "PREFIX",
    "pack_ids_key",
    "pack_key",
    "pack_lines_key",
    "request_key",
]

PREFIX = "vbq:"
COUNTS_KEY = f"{PREFIX}requests:counts"
"""Hash: requests per state (``PENDING``, ``SUCCEEDED``, ``FAILED``), kept by the scripts."""
PACKS_OPEN = f"{PREFIX}packs:open"
"""Zset: open packs, score = when their first request arrived (age flushes)."""
PACKS_SEALED = f"{PREFIX}packs:sealed"
"""Zset: sealed packs not yet flushed, score = when they were sealed."""
PACKS_FLUSHED = f"{PREFIX}packs:flushed"
"""Zset: packs submitted and not yet answered, score = when they were flushed."""


def request_key(request_id: str) -> str:
    """Hash of one request."""
    return f"{PREFIX}req:{request_id}"


def pack_key(pack_id: str) -> str:
    """Hash of one pack."""
    return f"{PREFIX}pack:{pack_id}"


def pack_lines_key(pack_id: str) -> str:
    """List of a pack's JSONL lines, in row order (deleted once the pack is flushed)."""
    return f"{PREFIX}pack:{pack_id}:lines"


def pack_ids_key(pack_id: str) -> str:
    """List of a pack's request ids (deleted once every request is answered)."""
    return f"{PREFIX}pack:{pack_id}:ids"
