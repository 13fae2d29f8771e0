"""Pub/Sub subscription filters: parse once, evaluate per published message.

Grammar (Google's filter syntax, attributes only)::

    expr     := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary ("AND" unary)*
    unary    := ("NOT" | "-") unary | primary
    primary  := "(" expr ")"
              | "attributes" ":" KEY                      has the key
              | "attributes" "." KEY ("=" | "!=") STRING  value equals / differs
              | "hasPrefix" "(" "attributes" "." KEY "," STRING ")"

``KEY`` is a bare word of letters, digits, ``_`` and ``-``, or a quoted string. Google refuses
``AND`` and ``OR`` side by side without parentheses, and so do we: ``a AND b OR c`` is invalid.
``attributes.k != "v"`` is ``NOT attributes.k = "v"``, so it also matches messages without ``k``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vbq_emulators.pubsub.status import StatusError

__all__ = ["MAX_FILTER_BYTES", "Filter", "parse_filter"]

MAX_FILTER_BYTES = 256
"""Google's limit on the length of a filter, in bytes (UTF-8)."""

Predicate = Callable[[Mapping[str, str]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|[=:().,-])
      | (?P<word>[A-Za-z0-9_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # "string", "op", "word", "end"
    text: str
    pos: int


def _unquote(raw: str) -> str:
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in {"x", "u"}:
                width = 2 if nxt == "x" else 4
                digits = body[i + 2 : i + 2 + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise _invalid(f"bad escape \\{nxt}{digits}")
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _invalid(message: str) -> StatusError:
    return StatusError.invalid_argument(f"Invalid filter: {message}")


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _invalid(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
        kind = match.lastgroup or "op"
        tokens.append(_Tok(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self, kind: str, text: str | None = None) -> _Tok:
        tok = self.tokens[self.i]
        if tok.kind != kind or (text is not None and tok.text != text):
            want = text or kind
            got = tok.text or "end of filter"
            raise _invalid(f"expected {want!r} at {tok.pos}, got {got!r}")
        self.i += 1
        return tok

    def at(self, kind: str, text: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == kind and tok.text == text

    def parse(self) -> Predicate:
        pred = self.expr()
        self.take("end")
        return pred

    def expr(self) -> Predicate:
        first = self.unary()
        joiner = ""
        parts = [first]
        while self.at("word", "AND") or self.at("word", "OR"):
            word = self.take("word").text
            if joiner and word != joiner:
                raise _invalid("use parentheses when mixing AND and OR")
            joiner = word
            parts.append(self.unary())
        if len(parts) == 1:
            return first
        if joiner == "AND":
            return lambda attrs: all(p(attrs) for p in parts)
        return lambda attrs: any(p(attrs) for p in parts)

    def unary(self) -> Predicate:
        if self.at("word", "NOT") or self.at("op", "-"):
            self.i += 1
            inner = self.unary()
            return lambda attrs: not inner(attrs)
        return self.primary()

    def key(self) -> str:
        tok = self.peek()
        if tok.kind == "word":
            self.i += 1
            return tok.text
        if tok.kind == "string":
            self.i += 1
            return _unquote(tok.text)
        raise _invalid(f"expected an attribute key at {tok.pos}")

    def string(self) -> str:
        return _unquote(self.take("string").text)

    def primary(self) -> Predicate:
        if self.at("op", "("):
            self.i += 1
            inner = self.expr()
            self.take("op", ")")
            return inner
        if self.at("word", "hasPrefix"):
            self.i += 1
            self.take("op", "(")
            self.take("word", "attributes")
            self.take("op", ".")
            key = self.key()
            self.take("op", ",")
            prefix = self.string()
            self.take("op", ")")
            return lambda attrs: key in attrs and attrs[key].startswith(prefix)
        self.take("word", "attributes")
        if self.at("op", ":"):
            self.i += 1
            key = self.key()
            return lambda attrs: key in attrs
        self.take("op", ".")
        key = self.key()
        if self.at("op", "="):
            self.i += 1
            value = self.string()
            return lambda attrs: attrs.get(key) == value
        if self.at("op", "!="):
            self.i += 1
            value = self.string()
            return lambda attrs: attrs.get(key) != value
        tok = self.peek()
        raise _invalid(f"expected '=', '!=' after attributes.{key} at {tok.pos}")


@dataclass(frozen=True)
class Filter:
    """A parsed subscription filter; call :meth:`matches` per message.

    Attributes:
        text: the filter as the subscription stores it ('' matches everything).
    """

    text: str
    _predicate: Predicate | None

    def matches(self, attributes: Mapping[str, str]) -> bool:
        """Whether a message with these attributes is delivered (others are auto-acked)."""
        return self._predicate is None or self._predicate(attributes)


def parse_filter(text: str) -> Filter:
    """Parse a subscription filter.

    Raises:
        StatusError: ``INVALID_ARGUMENT`` for a syntax error or a filter over 256 bytes.
    """
    if len(text.encode()) > MAX_FILTER_BYTES:
        raise _invalid(f"longer than {MAX_FILTER_BYTES} bytes")
    if text.strip() == "":
        return Filter(text, None)
    return Filter(text, _Parser(text).parse())
