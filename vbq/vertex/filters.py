"""The ``filter`` grammar of ``batchPredictionJobs.list``: a parser, a compiler, index hints.

Grammar (the AIP-160 subset Vertex documents for this method)::

    expr       := and_expr ( "OR" and_expr )*
    and_expr   := unary ( "AND" unary )*
    unary      := ( "NOT" | "-" ) unary | "(" expr ")" | comparison
    comparison := field op value
    field      := name ( "." ( name | quoted ) )*
    op         := "=" | "!=" | ":" | "<" | "<=" | ">" | ">="
    value      := quoted | bare            (bare: up to whitespace or ")")

Fields (snake_case or camelCase): ``display_name`` and ``model_display_name`` (``=``, ``!=``,
``:`` with ``*`` wildcards), ``state`` (``=``, ``!=``; ``JOB_STATE_X``, ``X`` or the enum's
number), ``create_time`` and ``update_time`` (every comparison; RFC 3339), ``labels.KEY``
(``=``, ``!=``, ``:`` pattern; ``labels.KEY:*`` means the label exists). ``:`` on a string is a
whole-value match where ``*`` matches any run of characters.

:func:`parse_expression` gives the tree (:class:`Comparison`, :class:`Junction`,
:class:`Negation`), :func:`compile_expression` a predicate over :class:`JobView`, and
:func:`required_terms` the comparisons every match must satisfy (what a store can use to pick
an index). Both the Vertex emulator and ``vbq api``'s Google surface use this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from vbq.errors import FilterError
from vbq.states import parse_job_state

__all__ = [
    "Comparison",
    "JobView",
    "Junction",
    "Negation",
    "Node",
    "Predicate",
    "compile_expression",
    "field_name",
    "parse_expression",
    "parse_filter",
    "parse_rfc3339",
    "referenced_fields",
    "required_terms",
    "state_name",
]

MAX_FILTER_CHARS = 4096
"""Longest filter accepted (Google's request size limits bind long before)."""
_MAX_DEPTH = 32


@dataclass(frozen=True, kw_only=True)
class JobView:
    """The fields of a job that filters can look at."""

    display_name: str = ""
    model_display_name: str = ""
    state: str = "JOB_STATE_UNSPECIFIED"
    create_time_s: float = 0.0
    update_time_s: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)


Predicate = Callable[[JobView], bool]


@dataclass(frozen=True)
class Comparison:
    """``field op value``; ``path`` is the dotted field (``("labels", "team")``)."""

    path: tuple[str, ...]
    op: str
    value: str


@dataclass(frozen=True)
class Junction:
    """``AND`` or ``OR`` over two or more parts."""

    kind: Literal["AND", "OR"]
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Negation:
    """``NOT inner`` (or ``-inner``)."""

    inner: Node


Node = Comparison | Junction | Negation

_OPS = ("<=", ">=", "!=", "=", ":", "<", ">")
_STRING_FIELDS = {"display_name": "display_name", "model_display_name": "model_display_name"}
_TIME_FIELDS = {"create_time": "create_time_s", "update_time": "update_time_s"}
_KEYWORDS = {"AND", "OR", "NOT"}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def field_name(name: str) -> str:
    """The snake_case form of a filter field name (``displayName`` → ``display_name``)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp (``2024-01-01T00:00:00Z``, offsets allowed).

    Raises:
        FilterError: not a timestamp with a time zone.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FilterError(f"invalid RFC 3339 timestamp {text!r}") from None
    if value.tzinfo is None:
        raise FilterError(f"timestamp {text!r} needs a time zone (Z or +hh:mm)")
    return value.timestamp()


def parse_expression(text: str) -> Node | None:
    """The expression tree of ``text``; None for an empty filter (it matches every job).

    Raises:
        FilterError: the text does not follow the grammar (the message gives the position).
    """
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"filter is longer than {MAX_FILTER_CHARS} characters")
    if not text.strip():
        return None
    parser = _Parser(text)
    node = parser.expr()
    parser.skip_ws()
    if parser.pos != len(text):
        raise FilterError(f"unexpected {text[parser.pos :]!r} at position {parser.pos} of filter")
    return node


def parse_filter(text: str) -> Predicate:
    """Compile a filter expression into a predicate; an empty filter matches every job.

    Raises:
        FilterError: the expression does not follow the grammar, names an unknown field, or
            uses an operator the field does not support (the message says which).
    """
    node = parse_expression(text)
    if node is None:
        return lambda _job: True
    return compile_expression(node)


def compile_expression(node: Node) -> Predicate:
    """A predicate over :class:`JobView` for ``node`` (fields and operators checked here).

    Raises:
        FilterError: an unknown field, or an operator or value the field does not support.
    """
    if isinstance(node, Comparison):
        return _compile(node)
    if isinstance(node, Negation):
        inner = compile_expression(node.inner)
        return lambda job: not inner(job)
    parts = [compile_expression(p) for p in node.parts]
    if node.kind == "AND":
        return lambda job: all(p(job) for p in parts)
    return lambda job: any(p(job) for p in parts)


def required_terms(node: Node | None) -> list[Comparison]:
    """Comparisons every matching job satisfies: the top-level ``AND`` chain's plain terms.

    A store may narrow its candidates with these (an index per label value or state) and must
    still apply the whole predicate.
    """
    if node is None:
        return []
    if isinstance(node, Comparison):
        return [node]
    if isinstance(node, Junction) and node.kind == "AND":
        return [term for part in node.parts for term in required_terms(part)]
    return []


def referenced_fields(node: Node | None) -> set[str]:
    """The snake_case head of every field the expression names (``labels`` for ``labels.k``)."""
    return {field_name(c.path[0]) for c in _comparisons(node)}


def _comparisons(node: Node | None) -> Iterator[Comparison]:
    if node is None:
        return
    if isinstance(node, Comparison):
        yield node
    elif isinstance(node, Negation):
        yield from _comparisons(node.inner)
    else:
        for part in node.parts:
            yield from _comparisons(part)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek_keyword(self, word: str) -> bool:
        self.skip_ws()
        end = self.pos + len(word)
        if self.text[self.pos : end] != word:
            return False
        # A keyword must stand alone: "ORDER" is a field name, not OR + DER.
        return end == len(self.text) or not (self.text[end].isalnum() or self.text[end] in "_.")

    def take(self, literal: str) -> bool:
        self.skip_ws()
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def error(self, message: str) -> FilterError:
        return FilterError(f"{message} at position {self.pos} of filter {self.text!r}")

    def quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == quote:
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.error("unterminated string")

    def name(self) -> str:
        self.skip_ws()
        match = _NAME_RE.match(self.text, self.pos)
        if not match:
            raise self.error("expected a field name")
        self.pos = match.end()
        return match.group(0)

    def value(self) -> str:
        self.skip_ws()
        if self.pos >= len(self.text):
            raise self.error("expected a value")
        if self.text[self.pos] in "\"'":
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and not (
            self.text[self.pos].isspace() or self.text[self.pos] in "()"
        ):
            self.pos += 1
        if self.pos == start:
            raise self.error("expected a value")
        return self.text[start : self.pos]

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(f"filter nested deeper than {_MAX_DEPTH} levels")
        parts = [self.and_expr()]
        while self.peek_keyword("OR"):
            self.pos += 2
            parts.append(self.and_expr())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else Junction("OR", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.unary()]
        while self.peek_keyword("AND"):
            self.pos += 3
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Junction("AND", tuple(parts))

    def unary(self) -> Node:
        negated = self.peek_keyword("NOT")
        if negated:
            self.pos += 3
        if negated or self.take("-"):
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise self.error(f"filter nested deeper than {_MAX_DEPTH} levels")
            inner = self.unary()
            self.depth -= 1
            return Negation(inner)
        if self.take("("):
            inner = self.expr()
            if not self.take(")"):
                raise self.error("expected ')'")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = [self.name()]
        if path[0] in _KEYWORDS:
            raise self.error(f"unexpected keyword {path[0]}")
        while self.take("."):
            self.skip_ws()
            if self.pos < len(self.text) and self.text[self.pos] in "\"'":
                path.append(self.quoted())
            else:
                path.append(self.name())
        self.skip_ws()
        op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise self.error(f"expected an operator after {'.'.join(path)}")
        self.pos += len(op)
        return Comparison(tuple(path), op, self.value())


def _compile(term: Comparison) -> Predicate:
    path, op, value = term.path, term.op, term.value
    head = field_name(path[0])
    if head == "labels":
        if len(path) != 2:
            raise FilterError("labels filters need exactly one key: labels.KEY")
        return _label_predicate(path[1], op, value)
    if len(path) != 1:
        raise FilterError(f"unknown filter field {'.'.join(path)!r}")
    if head in _STRING_FIELDS:
        attr = _STRING_FIELDS[head]
        return _string_predicate(lambda job: str(getattr(job, attr)), head, op, value)
    if head == "state":
        if op not in {"=", "!="}:
            raise FilterError(f"state supports = and != only, got {op!r}")
        wanted = state_name(value)
        if op == "=":
            return lambda job: job.state == wanted
        return lambda job: job.state != wanted
    if head in _TIME_FIELDS:
        attr = _TIME_FIELDS[head]
        limit = parse_rfc3339(value)
        compare = _COMPARE.get(op)
        if compare is None:
            raise FilterError(f"{head} does not support {op!r}")
        return lambda job: compare(float(getattr(job, attr)), limit)
    raise FilterError(f"unknown filter field {path[0]!r}")


def state_name(value: str) -> str:
    """The ``JOB_STATE_*`` name a filter's state value stands for.

    Raises:
        FilterError: the value names no job state.
    """
    try:
        return parse_job_state(value).name
    except ValueError:
        raise FilterError(f"unknown state {value!r} in filter") from None


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: abs(a - b) < 1e-6,
    "!=": lambda a, b: abs(a - b) >= 1e-6,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _string_predicate(get: Callable[[JobView], str], name: str, op: str, value: str) -> Predicate:
    if op == "=":
        return lambda job: get(job) == value
    if op == "!=":
        return lambda job: get(job) != value
    if op == ":":
        pattern = re.compile(_wildcard(value), re.DOTALL)
        return lambda job: pattern.fullmatch(get(job)) is not None
    raise FilterError(f"{name} supports =, != and : only, got {op!r}")


def _label_predicate(key: str, op: str, value: str) -> Predicate:
    if op == ":" and value == "*":
        return lambda job: key in job.labels
    if op == "=":
        return lambda job: job.labels.get(key) == value
    if op == "!=":
        return lambda job: job.labels.get(key) != value
    if op == ":":
        pattern = re.compile(_wildcard(value), re.DOTALL)
        return lambda job: key in job.labels and pattern.fullmatch(job.labels[key]) is not None
    raise FilterError(f"labels.{key} supports =, != and : only, got {op!r}")


def _wildcard(value: str) -> str:
    return ".*".join(re.escape(part) for part in value.split("*"))
