"""Avro schemas (Avro 1.11, as Pub/Sub supports): parse a definition, validate message data.

BINARY data is decoded with fastavro and must be consumed exactly. JSON data follows the Avro
JSON encoding: a union value other than ``null`` is an object naming its branch
(``{"string": "x"}``), ``bytes``/``fixed`` are strings of code points 0-255, a missing record
field needs a default. fastavro's JSON reader does not check types, so the JSON walk is here;
fields the schema does not name are refused (a contract that lets anything through is no
contract).
"""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from vbq_emulators.errors import SchemaDefinitionError, SchemaMessageError

__all__ = ["AvroSchema"]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "number_integer"
    if isinstance(value, float):
        return "number_float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class AvroSchema:
    """One parsed Avro definition.

    Raises:
        SchemaDefinitionError: the definition is not JSON or not a valid Avro schema.
    """

    kind = "AVRO"

    def __init__(self, definition: str) -> None:
        try:
            raw = json.loads(definition)
        except json.JSONDecodeError as exc:
            raise SchemaDefinitionError(f"Could not parse schema: {exc}") from None
        self._named: dict[str, Any] = {}
        try:
            self.parsed = fastavro.parse_schema(raw, named_schemas=self._named)
        except (SchemaParseException, UnknownType, ValueError, TypeError, KeyError) as exc:
            raise SchemaDefinitionError(f"Could not parse schema: {exc}") from None

    # -- binary ---------------------------------------------------------------------------------

    def validate_binary(self, data: bytes) -> None:
        """Raises SchemaMessageError unless ``data`` is exactly one Avro-binary datum."""
        stream = io.BytesIO(data)
        try:
            fastavro.schemaless_reader(stream, self.parsed, None)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeError, ...
            raise SchemaMessageError(f"Could not parse data for schema: {exc}") from None
        if stream.tell() != len(data):
            raise SchemaMessageError("Too much data to parse for schema.")

    # -- JSON -----------------------------------------------------------------------------------

    def validate_json(self, data: bytes) -> None:
        """Raises SchemaMessageError unless ``data`` is one datum in Avro's JSON encoding."""
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SchemaMessageError(f"Message is not valid JSON: {exc}") from None
        self._check(self.parsed, value, "$")

    def _resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            return self._named[schema]
        return schema

    def _mismatch(self, value: Any, expected: str, where: str) -> SchemaMessageError:
        return SchemaMessageError(
            f"JSON object with type {_json_kind(value)} does not match schema which expected "
            f"{expected} (at {where})"
        )

    def _check(self, schema: Any, value: Any, where: str) -> None:
        schema = self._resolve(schema)
        if isinstance(schema, list):
            self._check_union(schema, value, where)
            return
        kind = schema if isinstance(schema, str) else schema["type"]
        if kind in _PRIMITIVES:
            self._check_primitive(kind, value, where)
        elif kind == "record":
            self._check_record(schema, value, where)
        elif kind == "enum":
            if not isinstance(value, str) or value not in schema["symbols"]:
                raise SchemaMessageError(
                    f"{value!r} is not a symbol of enum {schema['name']} (at {where})"
                )
        elif kind == "array":
            if not isinstance(value, list):
                raise self._mismatch(value, "array", where)
            for index, item in enumerate(value):
                self._check(schema["items"], item, f"{where}[{index}]")
        elif kind == "map":
            if not isinstance(value, dict):
                raise self._mismatch(value, "object", where)
            for key, item in value.items():
                self._check(schema["values"], item, f"{where}.{key}")
        elif kind == "fixed":
            self._check_primitive("bytes", value, where)
            if len(value) != schema["size"]:
                raise SchemaMessageError(
                    f"fixed {schema['name']} needs {schema['size']} bytes (at {where})"
                )
        else:  # pragma: no cover - parse_schema accepts no other kind
            raise SchemaMessageError(f"unsupported schema type {kind!r} (at {where})")

    def _check_primitive(self, kind: str, value: Any, where: str) -> None:
        if kind == "null":
            ok = value is None
        elif kind == "boolean":
            ok = isinstance(value, bool)
        elif kind in {"int", "long"}:
            low, high = _INT32 if kind == "int" else _INT64
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        elif kind in {"float", "double"}:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif kind == "bytes":
            ok = isinstance(value, str) and all(ord(ch) < 256 for ch in value)
        else:
            ok = isinstance(value, str)
        if not ok:
            expected = {"int": "number_integer", "long": "number_integer"}.get(kind, kind)
            raise self._mismatch(value, expected, where)

    def _check_record(self, schema: dict[str, Any], value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise self._mismatch(value, "object", where)
        names = set()
        for field in schema["fields"]:
            name = field["name"]
            names.add(name)
            if name in value:
                self._check(field["type"], value[name], f"{where}.{name}")
            elif "default" not in field:
                raise SchemaMessageError(f"Missing required field {name!r} (at {where})")
        unknown = sorted(set(value) - names)
        if unknown:
            raise SchemaMessageError(
                f"Field {unknown[0]!r} is not in record {schema['name']} (at {where})"
            )

    def _check_union(self, branches: list[Any], value: Any, where: str) -> None:
        if value is None:
            if "null" in branches:
                return
            raise self._mismatch(value, "union without null", where)
        if not isinstance(value, dict) or len(value) != 1:
            raise SchemaMessageError(
                f"A union value must be an object naming its branch, such as "
                f'{{"string": ...}} (at {where})'
            )
        ((branch_name, inner),) = value.items()
        for branch in branches:
            resolved = self._resolve(branch)
            if isinstance(resolved, str):
                name = resolved
            else:
                name = resolved.get("name") or resolved["type"]
            if name == branch_name:
                self._check(resolved, inner, f"{where}.{branch_name}")
                return
        raise SchemaMessageError(f"{branch_name!r} is not a branch of the union (at {where})")
