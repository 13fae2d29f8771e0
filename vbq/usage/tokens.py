"""Token counts of Gemini responses (``usageMetadata``), summed per request, job, tenant, model.

Google reports per response ``promptTokenCount``, ``candidatesTokenCount``,
``thoughtsTokenCount`` (thinking models), ``cachedContentTokenCount`` and ``totalTokenCount``
(int32 in the proto, so JSON numbers; strings are accepted too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Tokens"]

_WIRE = {
    "prompt": "promptTokenCount",
    "candidates": "candidatesTokenCount",
    "thoughts": "thoughtsTokenCount",
    "cached": "cachedContentTokenCount",
    "total": "totalTokenCount",
}


class Tokens(NamedTuple):
    """Token counts (zero when absent); ``total`` falls back to prompt + candidates + thoughts.

    A named tuple: the unpacker makes one per output row, and a tuple is cheap to build.

    Attributes:
        prompt: ``promptTokenCount``.
        candidates: ``candidatesTokenCount``.
        thoughts: ``thoughtsTokenCount``.
        cached: ``cachedContentTokenCount`` (part of ``prompt``).
        total: ``totalTokenCount``.
    """

    prompt: int = 0
    candidates: int = 0
    thoughts: int = 0
    cached: int = 0
    total: int = 0

    @classmethod
    def from_usage_metadata(cls, meta: object) -> Tokens:
        """Counts of one response's ``usageMetadata`` (any shape is tolerated)."""
        if not isinstance(meta, Mapping):
            return cls()
        get = meta.get
        # Runs once per output row: plain ints (what Google sends) take the short way.
        p, c, th, ca, t = (
            get("promptTokenCount", 0),
            get("candidatesTokenCount", 0),
            get("thoughtsTokenCount", 0),
            get("cachedContentTokenCount", 0),
            get("totalTokenCount", 0),
        )
        if not (type(p) is type(c) is type(th) is type(ca) is type(t) is int):
            p, c, th, ca, t = _int(p), _int(c), _int(th), _int(ca), _int(t)
        return cls(p, c, th, ca, t or p + c + th)

    @classmethod
    def from_dict(cls, data: object) -> Tokens:
        """Counts from :meth:`to_dict` output (missing keys are zero)."""
        if not isinstance(data, Mapping):
            return cls()
        return cls(*(_int(data.get(name)) for name in cls._fields))

    @classmethod
    def decode(cls, text: str) -> Tokens:
        """Counts from :meth:`encode` output (``""`` is zero)."""
        parts = [int(p) for p in text.split(",")] if text else []
        parts += [0] * (5 - len(parts))
        return cls(*parts[:5])

    def encode(self) -> str:
        """Compact ``prompt,candidates,thoughts,cached,total`` (what a request record keeps)."""
        return f"{self.prompt},{self.candidates},{self.thoughts},{self.cached},{self.total}"

    def to_dict(self) -> dict[str, int]:
        """``{"prompt", "candidates", "thoughts", "cached", "total"}``."""
        return dict(zip(self._fields, self, strict=True))

    def __add__(self, other: Tokens) -> Tokens:  # type: ignore[override]
        return Tokens(
            self.prompt + other.prompt,
            self.candidates + other.candidates,
            self.thoughts + other.thoughts,
            self.cached + other.cached,
            self.total + other.total,
        )

    def __bool__(self) -> bool:
        return bool(self.prompt or self.candidates or self.thoughts or self.cached or self.total)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0
