"""Google's own message types for the request body, without the aiplatform package.

The descriptors of ``BatchPredictionJob`` (v1 and v1beta1, with everything they import) are
snapshotted in the package data file ``vbq/spec/descriptors.binpb`` (a serialized
``FileDescriptorSet``; ``descriptors.json`` names the SDK version it came from; rebuild both with
``.venv/bin/python -m tests.unit.spec.descriptor_set``) and loaded into a private pool, so that
vbq parses and serializes bodies with protobuf's ``json_format`` exactly as Google's SDK does
(camelCase names, enums as integers, default values omitted) while only depending on protobuf.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message

__all__ = [
    "ApiVersion",
    "accelerator_types",
    "canonical_message_dict",
    "descriptor_set",
    "message_class",
    "snapshot_sdk_version",
    "wire_json",
]

ApiVersion = Literal["v1", "v1beta1"]

_PACKAGES: dict[str, str] = {
    "v1": "google.cloud.aiplatform.v1",
    "v1beta1": "google.cloud.aiplatform.v1beta1",
}


DESCRIPTOR_SET_FILE = "descriptors.binpb"
SNAPSHOT_INFO_FILE = "descriptors.json"


def descriptor_set() -> bytes:
    """The serialized ``FileDescriptorSet`` snapshot, every file after its dependencies."""
    return resources.files(__package__).joinpath(DESCRIPTOR_SET_FILE).read_bytes()


def snapshot_sdk_version() -> str:
    """The google-cloud-aiplatform version the descriptor snapshot was taken from."""
    info = json.loads(resources.files(__package__).joinpath(SNAPSHOT_INFO_FILE).read_text())
    return str(info["sdk_version"])


@cache
def _pool() -> descriptor_pool.DescriptorPool:
    file_set = descriptor_pb2.FileDescriptorSet()
    file_set.ParseFromString(descriptor_set())
    pool = descriptor_pool.DescriptorPool()
    # The snapshot lists every file after its dependencies, so plain Add() order works.
    for file_proto in file_set.file:
        pool.Add(file_proto)
    return pool


@cache
def message_class(name: str, api_version: ApiVersion = "v1") -> type[Message]:
    """The generated class of ``google.cloud.aiplatform.{api_version}.{name}``.

    Args:
        name: message name relative to the package, e.g. ``"BatchPredictionJob"`` or
            ``"ModelMonitoringObjectiveConfig"``.
        api_version: ``"v1"`` or ``"v1beta1"``.

    Raises:
        KeyError: no such message in the snapshot.
    """
    descriptor = _pool().FindMessageTypeByName(f"{_PACKAGES[api_version]}.{name}")
    return message_factory.GetMessageClass(descriptor)


@cache
def accelerator_types() -> frozenset[str]:
    """Names of ``AcceleratorType`` (v1) that a caller may choose (UNSPECIFIED excluded)."""
    enum = _pool().FindEnumTypeByName(f"{_PACKAGES['v1']}.AcceleratorType")
    return frozenset(v.name for v in enum.values if v.number != 0)


def _parse(data: Mapping[str, Any], name: str, api_version: ApiVersion) -> Message:
    """Parse REST JSON (camelCase or snake_case names) into the message; unknown fields refused.

    Raises:
        json_format.ParseError: a field is unknown or a value has the wrong type.
    """
    message = message_class(name, api_version)()
    json_format.ParseDict(dict(data), message, ignore_unknown_fields=False)
    return message


def canonical_message_dict(
    data: Mapping[str, Any], name: str, api_version: ApiVersion = "v1"
) -> dict[str, Any]:
    """Validate ``data`` as message ``name`` and return its canonical REST JSON.

    The result uses camelCase names and enum *names* (readable in stored specs); map keys are
    kept as given.

    Raises:
        json_format.ParseError: unknown field or wrong value type (the message names the path).
    """
    message = _parse(data, name, api_version)
    result: dict[str, Any] = json_format.MessageToDict(message)
    return result


def wire_json(body: Mapping[str, Any], api_version: ApiVersion) -> dict[str, Any]:
    """``body`` as Google's REST transport sends a ``BatchPredictionJob``.

    Same steps as ``google.api_core.rest_helpers.transcode_request``: the message serialized
    with ``MessageToJson(use_integers_for_enums=True)``, so enums become integers, numbers in
    ``Struct`` values become doubles and default values disappear.

    Raises:
        json_format.ParseError: the body does not fit the message (a bug in the mapping).
    """
    message = _parse(body, "BatchPredictionJob", api_version)
    result: dict[str, Any] = json_format.MessageToDict(message, use_integers_for_enums=True)
    return result
