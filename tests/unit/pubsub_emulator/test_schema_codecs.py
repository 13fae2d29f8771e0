"""Avro JSON/binary and protocol buffer validation, as Pub/Sub's schema topics apply them."""

from __future__ import annotations

import io
import json

import fastavro
import pytest
from vbq_emulators.errors import SchemaDefinitionError, SchemaMessageError
from vbq_emulators.pubsub.schema_avro import AvroSchema
from vbq_emulators.pubsub.schema_proto import ProtoSchema

EVENT = {
    "type": "record",
    "name": "Event",
    "namespace": "ns",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "count", "type": "int"},
        {"name": "previous", "type": ["null", "string"], "default": None},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "tags", "type": {"type": "map", "values": "string"}, "default": {}},
        {"name": "items", "type": {"type": "array", "items": "long"}, "default": []},
    ],
}
GOOD = {"id": "x", "count": 1, "previous": None, "kind": "A", "tags": {"a": "b"}, "items": [1]}


def avro_json(value: object) -> None:
    AvroSchema(json.dumps(EVENT)).validate_json(json.dumps(value).encode())


def test_avro_json_accepts_a_matching_datum_and_defaults() -> None:
    avro_json(GOOD)
    avro_json({"id": "x", "count": 1, "kind": "B"})
    avro_json({**GOOD, "previous": {"string": "QUEUED"}})


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"previous": "QUEUED"}, "union value must be an object"),
        ({"count": "1"}, "type string does not match schema which expected number_integer"),
        ({"count": 2**31}, "number_integer"),
        ({"kind": "C"}, "not a symbol"),
        ({"items": [1.5]}, "number_float"),
        ({"extra": 1}, "'extra' is not in record"),
        ({"previous": {"int": 1}}, "not a branch"),
    ],
)
def test_avro_json_refuses_what_the_encoding_does_not_allow(
    change: dict[str, object], needle: str
) -> None:
    with pytest.raises(SchemaMessageError, match=needle):
        avro_json({**GOOD, **change})


def test_avro_json_needs_fields_without_default() -> None:
    with pytest.raises(SchemaMessageError, match="Missing required field 'count'"):
        avro_json({"id": "x", "kind": "A"})


def test_avro_binary_must_be_consumed_exactly() -> None:
    schema = AvroSchema(json.dumps(EVENT))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema.parsed, {**GOOD, "previous": "QUEUED"})
    schema.validate_binary(out.getvalue())
    with pytest.raises(SchemaMessageError, match="Too much data"):
        schema.validate_binary(out.getvalue() + b"\x00")
    with pytest.raises(SchemaMessageError):
        schema.validate_binary(out.getvalue()[:3])


def test_avro_definition_errors() -> None:
    with pytest.raises(SchemaDefinitionError):
        AvroSchema('{"type": "record", "name": "R", "fields": [{"name": "a", "type": "strin"}]}')


PROTO = 'syntax = "proto3";\npackage p;\nmessage M { string name = 1; int64 n = 2; }\n'


def test_proto_json_mapping() -> None:
    schema = ProtoSchema(PROTO)
    schema.validate_json(b'{"name": "a", "n": "12"}')
    schema.validate_json(b'{"name": null}')  # proto3 JSON: null is the default value
    with pytest.raises(SchemaMessageError, match="no field named"):
        schema.validate_json(b'{"other": 1}')
    with pytest.raises(SchemaMessageError):
        schema.validate_json(b'{"n": "not a number"}')


def test_proto2_required_fields_are_checked() -> None:
    schema = ProtoSchema('syntax = "proto2";\nmessage R { required string id = 1; }\n')
    schema.validate_binary(b"\n\x01x")
    with pytest.raises(SchemaMessageError, match="required"):
        schema.validate_binary(b"")
