"""Message-typed parameters (explanation and monitoring configs) as canonical REST JSON dicts.

Callers may pass a dict in REST camelCase or proto snake_case form, a proto-plus object from
``google.cloud.aiplatform_v1*.types`` (what ``aiplatform.explain`` hands out), a raw protobuf
message, or one of the SDK's model-monitoring config objects (anything with ``as_proto()``).
Every form is checked against Google's message type (unknown fields refused) and stored as the
canonical camelCase dict, so equal configs compare and fingerprint equal.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from vbq.spec.problems import Problems
from vbq.spec.protos import ApiVersion, canonical_message_dict
from vbq.spec.values import json_value

__all__ = ["message_dict"]


def _as_mapping(value: object) -> Any:
    """The REST JSON of a proto-like object, or ``value`` unchanged when it is not one."""
    if hasattr(value, "as_proto") and hasattr(value, "_config_for_bp"):
        # SDK model-monitoring configs render their batch-prediction (v1beta1) shape only with
        # this flag set, as ``_submit_impl`` does; work on a copy to leave the caller's alone.
        sdk_config = copy.copy(value)
        sdk_config._config_for_bp = True
        value = sdk_config.as_proto()
    protobuf = getattr(value, "_pb", value)  # proto-plus wraps a protobuf message in ``_pb``
    if isinstance(protobuf, Message):
        return json_format.MessageToDict(protobuf)
    return value


def message_dict(
    problems: Problems,
    field: str,
    value: object,
    *,
    message: str,
    api_version: ApiVersion,
) -> dict[str, Any] | None:
    """``value`` validated as ``google.cloud.aiplatform.{api_version}.{message}``.

    Returns the canonical camelCase dict, or ``None`` when the config is empty (the SDK then
    sends nothing) or a problem was recorded.
    """
    try:
        raw = _as_mapping(value)
    except Exception as err:  # a foreign object's as_proto() may fail in any way
        problems.add(field, "type", f"could not convert {type(value).__name__}: {err}")
        return None
    if not isinstance(raw, Mapping):
        problems.add(field, "type", f"must be a {message} dict, got {type(value).__name__}")
        return None
    before = len(problems.errors)
    plain = json_value(problems, field, raw)
    if len(problems.errors) > before:
        return None
    try:
        canonical = canonical_message_dict(plain, message, api_version)
    except (json_format.ParseError, ValueError, TypeError, KeyError) as err:
        problems.add(field, "schema", f"not a valid {message}: {err}")
        return None
    return canonical or None
