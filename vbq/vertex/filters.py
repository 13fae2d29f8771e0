"""The ``filter`` of ``batchPredictionJobs.list``: what its fields mean, compiled to predicates.

The grammar and the expression tree are :mod:`vbq.vertex.filter_syntax` (re-exported here).
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

from vbq.errors import FilterError
from vbq.states import parse_job_state
from vbq.vertex.filter_syntax import (
    MAX_FILTER_CHARS,
    Comparison,
    Junction,
    Negation,
    Node,
    parse_expression,
)

__all__ = [
    "MAX_FILTER_CHARS",
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


_STRING_FIELDS = {"display_name": "display_name", "model_display_name": "model_display_name"}
_TIME_FIELDS = {"create_time": "create_time_s", "update_time": "update_time_s"}


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
