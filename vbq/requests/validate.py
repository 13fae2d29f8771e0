"""Checking one request when it is added: a ``GenerateContentRequest`` for a known model.

The request is parsed with protobuf's ``json_format`` into Google's own
``google.cloud.aiplatform.v1.GenerateContentRequest`` (descriptors snapshotted in
the package data of :mod:`vbq.spec.protos`, so the aiplatform package is not needed at run
time): an
unknown field, a value of the wrong type or a bad enum name is refused with Google's message,
which names the field. vbq adds its own rules: ``contents`` must hold at least one content
with parts, ``model`` belongs outside the request, and label keys starting ``vbq-`` are
reserved (each packed line carries ``vbq-request`` and ``vbq-tenant``).

Parsing into the message is most of the cost of adding a request (~40 µs), and requests of
one service mostly share one shape: the *shape* of every accepted request (its keys, list
lengths and value types, with the values themselves except for ``Part.text``, the only
``text`` field and a free string) is remembered, and a request of a known shape skips the
parse, since the parser's verdict depends on nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from vbq.errors import SpecError
from vbq.spec.labels import is_label_key, is_label_value
from vbq.spec.protos import message_class

__all__ = ["MAX_USER_LABELS", "ROUTE_LABEL", "TENANT_LABEL", "check_request"]

ROUTE_LABEL = "vbq-request"
"""Label on every packed request: its request id, echoed in the output row."""
TENANT_LABEL = "vbq-tenant"
"""Label on every packed request: its tenant (per-tenant token sums of shared packs)."""
MAX_USER_LABELS = 62
"""Google allows 64 labels per request; vbq adds two."""

_SHAPES: dict[Any, None] = {}
_MAX_SHAPES = 4096
_AT = re.compile(r' at "?GenerateContentRequest\.?([\w.\[\]]*)')
_UNKNOWN = re.compile(r'has no field named "(\w+)"')


def _message_class() -> type[Message]:
    return message_class("GenerateContentRequest", "v1")


def check_request(request: object) -> dict[str, Any]:
    """Validate ``request`` (GenerateContentRequest as REST JSON); returns it as a plain dict.

    Field names may be camelCase or snake_case, as Google's JSON parser accepts both.

    Raises:
        SpecError: every broken rule, fields named ``request.…``.
    """
    if not isinstance(request, Mapping):
        raise SpecError.single("request", "type", "request must be a GenerateContentRequest object")
    data = dict(request)
    errors: list[dict[str, str]] = []
    if "model" in data:
        errors.append(
            _err("request.model", "forbidden", "set the model with model=, not in the request")
        )
        data.pop("model")
    shape = _shape(data)
    if shape is not None and shape in _SHAPES:
        if errors:
            raise SpecError(errors)
        label_errors = _label_errors(data.get("labels"))
        if label_errors:
            raise SpecError(label_errors)
        return data
    message = _message_class()()
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        text = str(exc)
        match = _AT.search(text)
        where = "request" + (f".{match.group(1).rstrip('.')}" if match and match.group(1) else "")
        unknown = _UNKNOWN.search(text)
        if unknown:
            where += f".{unknown.group(1)}"
        errors.append(_err(where, "schema", f"not a valid GenerateContentRequest: {text[:240]}"))
        raise SpecError(errors) from None
    contents = getattr(message, "contents")  # noqa: B009 (generated class: no static attribute)
    if len(contents) == 0:
        errors.append(_err("request.contents", "required", "at least one content is required"))
    for i, content in enumerate(contents):
        if len(content.parts) == 0:
            errors.append(_err(f"request.contents[{i}].parts", "required", "parts is empty"))
    if not errors and shape is not None:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        _SHAPES[shape] = None
    errors += _label_errors(data.get("labels"))
    if errors:
        raise SpecError(errors)
    return data


def _shape(data: dict[str, Any]) -> Any:
    """What the parser's verdict on ``data`` depends on (None: too odd to remember).

    Contents whose parts are plain ``{"text": ...}`` keep only their role and part count (the
    text is free); everything else is its canonical JSON, values included.
    """
    out: list[tuple[str, Any]] = []
    try:
        for key in sorted(data):
            value = data[key]
            if key == "contents" and isinstance(value, list):
                out.append((key, tuple(_content_shape(c) for c in value)))
            elif key in ("systemInstruction", "system_instruction"):
                out.append((key, _content_shape(value)))
            else:
                out.append((key, json.dumps(value, sort_keys=True)))
    except (TypeError, ValueError):
        return None
    return tuple(out)


def _content_shape(content: Any) -> Any:
    if isinstance(content, dict) and content.keys() <= {"role", "parts"}:
        parts = content.get("parts")
        if isinstance(parts, list) and all(
            type(p) is dict and len(p) == 1 and type(p.get("text")) is str for p in parts
        ):
            return ("c", "role" in content, json.dumps(content.get("role")), len(parts))
    return json.dumps(content, sort_keys=True)


def _label_errors(labels: object) -> list[dict[str, str]]:
    if not isinstance(labels, Mapping):
        return []  # absent (the parser already refused a non-map)
    out: list[dict[str, str]] = []
    for key, value in labels.items():
        where = f"request.labels.{str(key)[:64]}"
        if str(key).startswith("vbq-"):
            out.append(_err(where, "reserved", "label keys starting 'vbq-' are reserved"))
        elif not is_label_key(str(key)) or not is_label_value(str(value)):
            out.append(
                _err(where, "label", "keys and values: at most 63 lowercase letters, digits, _ -")
            )
    if len(labels) > MAX_USER_LABELS:
        out.append(_err("request.labels", "count", f"at most {MAX_USER_LABELS} labels"))
    return out


def _err(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}
