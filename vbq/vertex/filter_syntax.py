"""The syntax of the ``batchPredictionJobs.list`` filter: the expression tree and its parser.

Grammar (the AIP-160 subset Vertex documents for this method)::

    expr       := and_expr ( "OR" and_expr )*
    and_expr   := unary ( "AND" unary )*
    unary      := ( "NOT" | "-" ) unary | "(" expr ")" | comparison
    comparison := field op value
    field      := name ( "." ( name | quoted ) )*
    op         := "=" | "!=" | ":" | "<" | "<=" | ">" | ">="
    value      := quoted | bare            (bare: up to whitespace or ")")

What the fields mean and which operators each takes is :mod:`vbq.vertex.filters`' business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vbq.errors import FilterError

__all__ = ["MAX_FILTER_CHARS", "Comparison", "Junction", "Negation", "Node", "parse_expression"]

MAX_FILTER_CHARS = 4096
"""Longest filter accepted (Google's request size limits bind long before)."""
_MAX_DEPTH = 32


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
_KEYWORDS = {"AND", "OR", "NOT"}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


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
