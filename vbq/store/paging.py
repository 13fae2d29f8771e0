"""Newest-first keyset paging over a listing index (a zset scored by ``created_at``).

A page token is an opaque encoding of the last ``(score, member)`` returned. The next page
starts strictly after it in (score desc, member desc) order, the order ``ZRANGE ... REV``
uses. Inserts made while a client pages get newer scores, so they land before the cursor and
never shift or repeat a later page; records leaving an index (state moves) are skipped without
disturbing the cursor either.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from vbq.errors import StoreError

__all__ = ["Cursor", "decode_token", "encode_token", "scan_newest_first"]

Cursor = tuple[float, str]

_TOKEN_VERSION = 1


def encode_token(cursor: Cursor) -> str:
    """An opaque, URL-safe page token for ``cursor``."""
    raw = json.dumps([_TOKEN_VERSION, repr(cursor[0]), cursor[1]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> Cursor:
    """Parse a page token made by :func:`encode_token`.

    Raises:
        StoreError: the token is malformed (not one this store issued).
    """
    try:
        padded = token + "=" * (-len(token) % 4)
        version, score, member = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if version != _TOKEN_VERSION or not isinstance(member, str):
            raise ValueError("unknown token version")
        return float(score), member
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise StoreError(f"invalid page token: {exc}") from None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def scan_newest_first(
    redis: Any,
    key: str,
    *,
    after: Cursor | None = None,
    chunk: int = 200,
    low: float | None = None,
    high: float | None = None,
) -> Iterator[Cursor]:
    """Yield ``(score, member)`` of ``key`` newest first, strictly after ``after``.

    Reads ``chunk`` members per round trip; ties on the score are ordered by member, as Redis
    orders them, so no member is skipped or repeated even when many share a score.

    Args:
        low: only scores >= ``low`` (None: no lower bound).
        high: only scores < ``high`` (None: no upper bound).
    """
    if after is not None and high is not None and after[0] >= high:
        after = None  # a cursor above the range: start at its top
    cursor = after
    bottom = "-inf" if low is None else repr(low)
    top = "+inf" if high is None else f"({high!r}"
    while True:
        if cursor is not None:
            score, member = cursor
            if low is not None and score < low:
                return
            # Same score, smaller member: the rest of a tie group the last chunk cut.
            ties = redis.zrevrangebyscore(key, repr(score), repr(score), withscores=True)
            for m, s in ties:
                name = _text(m)
                if name < member:
                    yield float(s), name
            top = f"({score!r}"
        rows = redis.zrevrangebyscore(key, top, bottom, start=0, num=chunk, withscores=True)
        if not rows:
            return
        for m, s in rows:
            cursor = (float(s), _text(m))
            yield cursor
        if len(rows) < chunk:
            return
