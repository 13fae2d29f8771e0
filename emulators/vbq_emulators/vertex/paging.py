"""List page tokens: opaque to clients, bound to one query and one emulator generation.

A token is URL-safe base64 of ``[generation, seq, fingerprint]``: the sequence number of the
last job on the page, the generation of the store (bumped by a reset) and a fingerprint of the
parent and filter. A token from another query or from before a reset is refused (400), as
Google refuses a page token used with other parameters.
"""

from __future__ import annotations

import base64
import hashlib
import json

from vbq_emulators.vertex.wire import api_error

__all__ = ["page_token_for", "query_fingerprint", "read_page_token"]


def query_fingerprint(parent: str, filter_text: str) -> str:
    """A short digest of the list query a token belongs to."""
    return hashlib.sha256(f"{parent}\0{filter_text}".encode()).hexdigest()[:12]


def page_token_for(generation: int, seq: int, fingerprint: str) -> str:
    """The token of the page after the job numbered ``seq``."""
    raw = json.dumps([generation, seq, fingerprint]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_page_token(token: str, generation: int, fingerprint: str, job_count: int) -> int:
    """The ``seq`` inside ``token``, checked against the current generation and query.

    Raises:
        ApiError: 400 INVALID_ARGUMENT for a token from another query, a reset, or garbage.
    """
    try:
        padded = token + "=" * (-len(token) % 4)
        seen_generation, seq, seen = json.loads(base64.urlsafe_b64decode(padded))
        valid = seen_generation == generation and seen == fingerprint
        valid = valid and isinstance(seq, int) and 0 <= seq <= job_count
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise api_error(400, "Invalid page_token (it belongs to another query).")
    return int(seq)
