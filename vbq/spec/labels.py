"""Label rules: Google's, plus the keys vbq reserves for itself.

Google (https://cloud.google.com/resource-manager/docs/labels-overview): at most 64 labels;
keys and values at most 63 characters of lowercase letters, digits, ``_`` and ``-``,
international characters allowed; keys start with a lowercase letter or an international
character; values may be empty.

vbq reserves keys starting with ``vbq-`` (the submit task adds ``vbq-submission``) and so allows
at most 63 user labels, keeping every job within Google's 64.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from vbq.spec.problems import Problems, shown
from vbq.spec.values import as_str

__all__ = [
    "MAX_USER_LABELS",
    "RESERVED_PREFIX",
    "SUBMISSION_LABEL",
    "is_label_key",
    "is_label_value",
    "user_labels",
]

RESERVED_PREFIX = "vbq-"
SUBMISSION_LABEL = "vbq-submission"
MAX_USER_LABELS = 63
MAX_LABEL_CHARS = 63


# Google's label patterns: keys [\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}, values
# [\p{Ll}\p{Lo}\p{N}_-]{0,63}: lowercase letters, letters without case (CJK, Arabic, ...)
# and numbers; uppercase, titlecase and modifier letters are not allowed.
_LETTERS = frozenset({"Ll", "Lo"})
_ALLOWED = _LETTERS | {"Nd", "Nl", "No"}


def _allowed(char: str) -> bool:
    return char in "_-" or unicodedata.category(char) in _ALLOWED


def is_label_value(text: str) -> bool:
    """Whether ``text`` is a valid label value (empty allowed)."""
    return len(text) <= MAX_LABEL_CHARS and all(_allowed(c) for c in text)


def is_label_key(text: str) -> bool:
    """Whether ``text`` is a valid label key (non-empty, starts with a lowercase letter)."""
    return (
        0 < len(text) <= MAX_LABEL_CHARS
        and unicodedata.category(text[0]) in _LETTERS
        and is_label_value(text)
    )


def user_labels(problems: Problems, field: str, value: object) -> dict[str, str] | None:
    """Validate user labels; returns a plain dict sorted by key, or ``None`` on problems.

    An empty mapping is returned as ``None`` (the SDK sends no labels then either).
    """
    if not isinstance(value, Mapping):
        problems.add(field, "type", f"must be a mapping of strings, got {type(value).__name__}")
        return None
    before = len(problems.errors)
    result: dict[str, str] = {}
    for raw_key, raw_value in value.items():
        key = as_str(problems, f"{field}.{_key_name(raw_key)}", raw_key)
        if key is None:
            continue
        where = f"{field}.{key}"
        if key.startswith(RESERVED_PREFIX):
            problems.add(where, "reserved", f"label keys starting {RESERVED_PREFIX!r} are reserved")
            continue
        if not is_label_key(key):
            problems.add(
                where,
                "label_key",
                f"key {shown(key)} must be 1-63 lowercase letters, digits, '_' or '-', "
                "starting with a lowercase letter",
            )
            continue
        text = as_str(problems, where, raw_value)
        if text is None:
            continue
        if not is_label_value(text):
            problems.add(
                where,
                "label_value",
                f"value {shown(text)} must be at most 63 lowercase letters, digits, '_' or '-'",
            )
            continue
        result[key] = text
    if len(value) > MAX_USER_LABELS:
        problems.add(
            field, "count", f"at most {MAX_USER_LABELS} labels (vbq reserves one), got {len(value)}"
        )
    if len(problems.errors) > before:
        return None
    return dict(sorted(result.items())) or None


def _key_name(key: object) -> str:
    return str.__str__(key) if isinstance(key, str) else shown(key)
