"""Protocol buffer schemas: compile a definition with protoc, validate message data.

Pub/Sub's rules: proto2 or proto3, exactly one top-level type (a message; nested types are
fine), no import statements. The definition is compiled by grpcio-tools' protoc in a child
process (so its error text can be read) into a private descriptor pool. BINARY data must parse
as the message (and carry every proto2 ``required`` field); JSON data is parsed with the
proto3 JSON mapping, refusing fields the message does not have.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError

from vbq_emulators.errors import SchemaDefinitionError, SchemaMessageError

__all__ = ["ProtoSchema"]

_FILE = "schema.proto"
PROTOC_TIMEOUT_S = 30.0
"""Longest a protoc run may take, seconds."""


def _well_known_dir() -> str:
    import grpc_tools

    return str(Path(grpc_tools.__file__).parent / "_proto")


@functools.lru_cache(maxsize=256)
def _compile(definition: str) -> bytes:
    """The serialized ``FileDescriptorProto`` of ``definition`` (cached by text)."""
    with tempfile.TemporaryDirectory(prefix="pubsub-schema-") as tmp:
        source = Path(tmp) / _FILE
        source.write_text(definition, encoding="utf-8")
        out = Path(tmp) / "out.pb"
        argv = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{tmp}",
            f"-I{_well_known_dir()}",
            f"--descriptor_set_out={out}",
            _FILE,
        ]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=PROTOC_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise SchemaDefinitionError("Could not parse schema: protoc timed out.") from None
        if done.returncode != 0 or not out.exists():
            detail = (done.stderr or done.stdout).strip().splitlines()
            first = detail[0] if detail else "protoc failed"
            reason = first.replace(f"{source}:", "line ").replace(f"{_FILE}:", "line ")
            raise SchemaDefinitionError(f"Could not parse schema: {reason}")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    (file_proto,) = [f for f in files.file if f.name == _FILE]
    return bytes(file_proto.SerializeToString())


class ProtoSchema:
    """One compiled protocol buffer definition.

    Raises:
        SchemaDefinitionError: it does not compile, imports another file, or does not define
            exactly one top-level message.
    """

    kind = "PROTO"

    def __init__(self, definition: str) -> None:
        file_proto = descriptor_pb2.FileDescriptorProto.FromString(_compile(definition))
        if file_proto.dependency:
            raise SchemaDefinitionError(
                "Import statements are not supported in a schema definition "
                f"(imports {', '.join(file_proto.dependency)})."
            )
        top_level = len(file_proto.message_type) + len(file_proto.enum_type)
        if top_level != 1 or len(file_proto.message_type) != 1:
            raise SchemaDefinitionError(
                f"A schema must define exactly one top-level message type (found {top_level} "
                "top-level types)."
            )
        pool = descriptor_pool.DescriptorPool()
        pool.Add(file_proto)
        name = file_proto.message_type[0].name
        full_name = f"{file_proto.package}.{name}" if file_proto.package else name
        self._cls: Any = message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))
        self.message_name = full_name

    def validate_binary(self, data: bytes) -> None:
        """Raises SchemaMessageError unless ``data`` parses as the message."""
        message = self._cls()
        try:
            message.ParseFromString(data)
        except (DecodeError, RuntimeError, ValueError) as exc:
            detail = f"Could not parse data as {self.message_name}: {exc}"
            raise SchemaMessageError(detail) from None
        self._check_initialized(message)

    def validate_json(self, data: bytes) -> None:
        """Raises SchemaMessageError unless ``data`` is the message in the proto3 JSON mapping."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SchemaMessageError(f"Message is not UTF-8: {exc}") from None
        message = self._cls()
        try:
            json_format.Parse(text, message)
        except json_format.ParseError as exc:
            raise SchemaMessageError(str(exc)) from None
        self._check_initialized(message)

    def _check_initialized(self, message: Any) -> None:
        if not message.IsInitialized():
            missing = ", ".join(message.FindInitializationErrors())
            raise SchemaMessageError(f"Message is missing required fields: {missing}")
