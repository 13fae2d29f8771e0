"""Type and range checks for scalar and JSON values of a spec.

Each checker takes the :class:`Problems` of the spec, the field name and the raw value; it
returns the value in its canonical plain-Python form, or ``None`` after recording a problem.
Exact built-in types are returned (a ``str`` subclass such as a ``StrEnum`` becomes ``str``) so
that specs compare, serialize and fingerprint the same whatever the caller passed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from vbq.spec.problems import Problems, shown

__all__ = [
    "INT32_MAX",
    "as_bool",
    "as_int",
    "as_seconds",
    "as_str",
    "as_text",
    "json_value",
]

INT32_MAX = 2**31 - 1
# Struct values are doubles on the wire: larger integers would silently lose precision.
_SAFE_INT = 2**53
MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 1_000_000
_MAX_JSON_NODES = 100_000

# Control characters (C0, C1), and the Unicode line/paragraph separators, break single-line
# names in logs, CSV exports and list filters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def as_str(problems: Problems, field: str, value: object) -> str | None:
    """``value`` as a plain ``str`` that is valid UTF-8 (no lone surrogates), else a problem."""
    if not isinstance(value, str):
        problems.add(field, "type", f"must be a string, got {type(value).__name__}")
        return None
    text = str.__str__(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        problems.add(field, "utf8", "must be valid UTF-8 (no lone surrogates)")
        return None
    return text


def as_text(
    problems: Problems,
    field: str,
    value: object,
    *,
    max_chars: int,
    pattern: re.Pattern[str] | None = None,
    rule_hint: str = "",
) -> str | None:
    """A non-empty single-line string of at most ``max_chars`` code points.

    Args:
        pattern: when given, the whole string must match it (``fullmatch``).
        rule_hint: appended to the pattern error, e.g. ``"like gs://bucket/path"``.
    """
    text = as_str(problems, field, value)
    if text is None:
        return None
    if not text.strip():
        problems.add(field, "empty", "must not be empty")
        return None
    if len(text) > max_chars:
        problems.add(field, "length", f"must be at most {max_chars} characters, got {len(text)}")
        return None
    if _CONTROL.search(text):
        problems.add(field, "control_chars", "must not contain newlines or control characters")
        return None
    if pattern is not None and not pattern.fullmatch(text):
        hint = f" ({rule_hint})" if rule_hint else ""
        problems.add(field, "format", f"malformed value {shown(text)}{hint}")
        return None
    return text


def as_int(
    problems: Problems, field: str, value: object, *, minimum: int = 1, maximum: int = INT32_MAX
) -> int | None:
    """An integer (not a bool) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(field, "type", f"must be an integer, got {type(value).__name__}")
        return None
    number = int.__index__(value)
    if not minimum <= number <= maximum:
        problems.add(field, "range", f"must be between {minimum} and {maximum}, got {number}")
        return None
    return number


def as_bool(problems: Problems, field: str, value: object) -> bool | None:
    """A real ``bool`` (``0``/``1``/``"true"`` are refused: they hide typos)."""
    if not isinstance(value, bool):
        problems.add(field, "type", f"must be true or false, got {type(value).__name__}")
        return None
    return value


def as_seconds(problems: Problems, field: str, value: object, *, maximum_s: float) -> float | None:
    """A finite number of seconds in ``(0, maximum_s]``, returned as ``float``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(field, "type", f"must be a number of seconds, got {type(value).__name__}")
        return None
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or not 0 < seconds <= maximum_s:
        problems.add(field, "range", f"must be > 0 and <= {maximum_s:g} seconds")
        return None
    return seconds


def json_value(problems: Problems, field: str, value: object) -> Any:
    """A deep plain copy of a JSON value (dict/list/str/finite number/bool/None), bounded.

    Bounds: depth ``MAX_JSON_DEPTH``, serialized size ``MAX_JSON_BYTES``, integers within
    +-2**53 (they travel as doubles). Returns ``None`` after recording a problem.
    """
    budget = [_MAX_JSON_NODES]
    try:
        plain = _plain(value, field, 0, budget)
        size = len(json.dumps(plain, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except _JsonValueError as err:
        problems.add(err.field, err.rule, err.message)
        return None
    if size > MAX_JSON_BYTES:
        problems.add(field, "size", f"must serialize to at most {MAX_JSON_BYTES} bytes")
        return None
    return plain


class _JsonValueError(Exception):
    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field, self.rule, self.message = field, rule, message


def _plain(value: object, field: str, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _JsonValueError(field, "size", f"has more than {_MAX_JSON_NODES} values")
    if depth > MAX_JSON_DEPTH:
        raise _JsonValueError(field, "depth", f"is nested deeper than {MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        number = int.__index__(value)
        if abs(number) > _SAFE_INT:
            raise _JsonValueError(field, "range", "integers must be within +-2**53")
        return number
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _JsonValueError(field, "finite", "numbers must be finite (no NaN or infinity)")
        return float(value)
    if isinstance(value, str):
        text = str.__str__(value)
        if not _is_utf8(text):
            raise _JsonValueError(field, "utf8", "strings must be valid UTF-8")
        return text
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _is_utf8(key):
                raise _JsonValueError(
                    field, "type", f"object keys must be strings, got {shown(key)}"
                )
            result[str.__str__(key)] = _plain(item, f"{field}.{key}", depth + 1, budget)
        return result
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray | memoryview):
        return [_plain(item, f"{field}[{i}]", depth + 1, budget) for i, item in enumerate(value)]
    raise _JsonValueError(field, "type", f"must be JSON data, got {type(value).__name__}")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
