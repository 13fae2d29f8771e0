"""A small, safe template language for turning an object's name and metadata into job fields.

Nothing is ever evaluated: a template is literal text with ``{...}`` placeholders, each a
*variable* followed by optional *filters*::

    gs://{object.bucket}/{object.name}          the notification's bucket and object name
    {path[1]}  {path[-2]}                       a segment of the object name split on "/"
    {basename}  {stem}  {ext}  {dirname}        "a/b/c.jsonl" -> "c.jsonl", "c", "jsonl", "a/b"
    {metadata.team}                             the object's custom metadata (x-goog-meta-team)
    {generation}  {bucket}  {name}  {rule}      shortcuts; {object.<field>} reads any scalar
                                                field of the JSON object resource
    {metadata.team|default:none}                a default when the value is missing
    {basename|lower}  {path[0]|label}           filters: lower, upper, label (sanitize to a
                                                Google label value), default:TEXT

``{{`` and ``}}`` are literal braces. Templates are compiled when the rule file is loaded, so a
typo in a variable or filter name is a :class:`~vbq.errors.ConfigError` at start-up; a value
missing at render time (no such metadata key, path segment out of range) is a
:class:`~vbq.errors.SpecError` naming the job field, and the notification is dead-lettered.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vbq.errors import ConfigError, SpecError

__all__ = ["Template", "sanitize_label_value"]

_MAX_LABEL_CHARS = 63
_ALLOWED_CATEGORIES = frozenset({"Ll", "Lo", "Nd", "Nl", "No"})

# Variable roots that take no suffix, and those that take ".key" or "[index]".
_PLAIN = frozenset({"basename", "stem", "ext", "dirname", "generation", "bucket", "name", "rule"})
_DOTTED = frozenset({"object", "metadata"})
_FILTERS = frozenset({"lower", "upper", "label"})

_VAR_RE = re.compile(
    r"""^(?P<root>[a-z_]+)
        (?:\.(?P<key>[A-Za-z0-9_.-]+) | \[(?P<index>-?\d+)\])?$""",
    re.VERBOSE,
)


def sanitize_label_value(text: str) -> str:
    """``text`` as a valid Google label value: lowercase; every run of characters other than
    lowercase letters, digits, ``_`` and ``-`` becomes one ``-``; at most 63 characters.

    >>> sanitize_label_value("Team A/B.Report")
    'team-a-b-report'
    """
    out: list[str] = []
    for char in text.lower():
        if char in "_-" or unicodedata.category(char) in _ALLOWED_CATEGORIES:
            out.append(char)
        elif not out or out[-1] != "-":
            out.append("-")
    return "".join(out)[:_MAX_LABEL_CHARS]


@dataclass(frozen=True)
class _Placeholder:
    root: str
    key: str | None
    index: int | None
    filters: tuple[str, ...]
    default: str | None
    source: str


class _MissingValueError(Exception):
    """Internal: a variable has no value for this object (turned into a SpecError)."""


class Template:
    """A compiled template.

    Args:
        text: the template text.
        where: where it came from (``rules[0].job.gcs_source``), for error messages.

    Raises:
        ConfigError: unbalanced braces, an unknown variable or filter (names ``where``).
    """

    def __init__(self, text: str, *, where: str = "template") -> None:
        self.text = text
        self.where = where
        self._parts = _compile(text, where)

    @property
    def is_literal(self) -> bool:
        """True when the template has no placeholders."""
        return all(isinstance(p, str) for p in self._parts)

    def render(self, context: Mapping[str, Any], *, field: str) -> str:
        """Fill the placeholders from ``context`` (see :func:`object_context`).

        Args:
            context: variables: ``object`` (the JSON object resource), ``metadata``, ``path``
                (list of segments), ``basename``, ``stem``, ``ext``, ``dirname``, ...
            field: the job field being rendered, named in errors (``labels.team``).

        Raises:
            SpecError: a variable has no value and no default (rule ``template``).
        """
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                value = _lookup(part, context)
            except _MissingValueError as exc:
                if part.default is None:
                    raise SpecError.single(
                        field, "template", f"{{{part.source}}} has no value: {exc}"
                    ) from None
                value = part.default
            for name in part.filters:
                value = _apply(name, value)
            out.append(value)
        return "".join(out)


def _compile(text: str, where: str) -> list[str | _Placeholder]:
    parts: list[str | _Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i : i + 2] == char * 2:
            literal.append(char)
            i += 2
            continue
        if char == "}":
            raise ConfigError(f"{where}: unmatched '}}' at position {i} in {text!r}")
        if char != "{":
            literal.append(char)
            i += 1
            continue
        end = text.find("}", i + 1)
        if end < 0:
            raise ConfigError(f"{where}: unclosed '{{' at position {i} in {text!r}")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(_placeholder(text[i + 1 : end], where))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return parts


def _placeholder(source: str, where: str) -> _Placeholder:
    var, *filter_specs = [s.strip() for s in source.split("|")]
    match = _VAR_RE.fullmatch(var)
    if match is None:
        raise ConfigError(f"{where}: {{{source}}} is not a variable")
    root, key, index = match["root"], match["key"], match["index"]
    if root == "path":
        if index is None:
            raise ConfigError(f"{where}: {{{source}}}: write path[N] (a segment number)")
    elif root in _DOTTED:
        if key is None:
            raise ConfigError(f"{where}: {{{source}}}: write {root}.KEY")
    elif root in _PLAIN:
        if key is not None or index is not None:
            raise ConfigError(f"{where}: {{{source}}}: {root} takes no key or index")
    else:
        known = ", ".join(sorted({*_PLAIN, *_DOTTED, "path[N]"}))
        raise ConfigError(f"{where}: unknown variable {root!r} in {{{source}}} (known: {known})")
    filters: list[str] = []
    default: str | None = None
    for spec in filter_specs:
        if spec.startswith("default:"):
            default = spec.removeprefix("default:")
        elif spec in _FILTERS:
            filters.append(spec)
        else:
            raise ConfigError(
                f"{where}: unknown filter {spec!r} in {{{source}}} "
                "(known: lower, upper, label, default:TEXT)"
            )
    return _Placeholder(
        root=root,
        key=key,
        index=int(index) if index is not None else None,
        filters=tuple(filters),
        default=default,
        source=source,
    )


def _lookup(part: _Placeholder, context: Mapping[str, Any]) -> str:
    if part.root == "path":
        segments = context.get("path") or []
        assert part.index is not None
        try:
            return str(segments[part.index])
        except IndexError:
            raise _MissingValueError(f"the object name has {len(segments)} segments") from None
    if part.root in _DOTTED:
        mapping = context.get(part.root) or {}
        assert part.key is not None
        value = mapping.get(part.key)
        if value is None and part.root == "object":
            value = mapping.get(_camel(part.key))
        if value is None or isinstance(value, (dict, list)):
            raise _MissingValueError(f"no {part.root} value {part.key!r}")
        return str(value)
    value = context.get(part.root)
    if value is None:
        raise _MissingValueError(f"no {part.root}")
    return str(value)


def _apply(name: str, value: str) -> str:
    if name == "lower":
        return value.lower()
    if name == "upper":
        return value.upper()
    return sanitize_label_value(value)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)
