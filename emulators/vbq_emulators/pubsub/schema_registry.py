"""Schemas and their revisions, as Pub/Sub's SchemaService keeps them (data only, no locking).

A schema is a list of revisions, oldest first; the newest is "the schema". Each revision has an
8-hex-digit id and a creation time; commit and rollback add revisions (rollback copies an older
one), a schema keeps at most 20. Definitions are compiled when they are created (to refuse bad
ones) and again lazily after a restart, when the journal is replayed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.pubsub_v1 import types

from vbq_emulators.errors import SchemaDefinitionError
from vbq_emulators.pubsub.config import validate_name
from vbq_emulators.pubsub.status import StatusError

__all__ = ["Codec", "SchemaPb", "SchemaRegistry", "compile_definition"]

SchemaPb: Any = types.Schema.pb()


class Codec(Protocol):
    """A compiled definition: :class:`~.schema_avro.AvroSchema` or
    :class:`~.schema_proto.ProtoSchema`."""

    kind: str
    """``AVRO`` or ``PROTO`` (the middle of Google's ``INVALID_JSON_AVRO_MESSAGE`` reasons)."""

    def validate_json(self, data: bytes) -> None:
        """Raises SchemaMessageError unless ``data`` matches in the JSON encoding."""

    def validate_binary(self, data: bytes) -> None:
        """Raises SchemaMessageError unless ``data`` matches in the binary encoding."""


MAX_REVISIONS = 20
MAX_DEFINITION_BYTES = 300 * 1024
_BASIC = int(types.SchemaView.BASIC)


def compile_definition(type_: int, definition: str) -> Codec:
    """Parse a definition of ``type_`` (``Schema.Type``).

    Raises:
        StatusError: ``INVALID_ARGUMENT`` for an unknown type, an empty, oversized or invalid
            definition (``Invalid schema definition: ...``).
    """
    if type_ not in {int(SchemaPb.Type.AVRO), int(SchemaPb.Type.PROTOCOL_BUFFER)}:
        raise StatusError.invalid_argument("Invalid schema type: must be AVRO or PROTOCOL_BUFFER.")
    if not definition.strip():
        raise StatusError.invalid_argument("Invalid schema definition: the definition is empty.")
    if len(definition.encode()) > MAX_DEFINITION_BYTES:
        raise StatusError.invalid_argument(
            f"Invalid schema definition: larger than {MAX_DEFINITION_BYTES} bytes."
        )
    # Imported on first use: fastavro and protobuf's descriptor machinery are not needed by
    # an emulator that never sees a schema.
    from vbq_emulators.pubsub.schema_avro import AvroSchema
    from vbq_emulators.pubsub.schema_proto import ProtoSchema

    try:
        if type_ == int(SchemaPb.Type.AVRO):
            return AvroSchema(definition)
        return ProtoSchema(definition)
    except SchemaDefinitionError as exc:
        raise StatusError.invalid_argument(f"Invalid schema definition: {exc}") from None


@dataclass(eq=False)
class Revision:
    """One revision: its resource (``name``, ``type``, ``definition``, ``revision_id``,
    ``revision_create_time``) and, once compiled, its codec."""

    pb: Any
    codec: Codec | None = None

    def compiled(self) -> Codec:
        """The codec, compiling the definition on first use."""
        if self.codec is None:
            self.codec = compile_definition(int(self.pb.type_), self.pb.definition)
        return self.codec


@dataclass(eq=False)
class SchemaEntry:
    """A schema's revisions, oldest first."""

    revisions: list[Revision] = field(default_factory=list)

    def find(self, revision_id: str) -> Revision | None:
        """The revision with that id, if any."""
        for revision in self.revisions:
            if revision.pb.revision_id == revision_id:
                return revision
        return None


def split_name(name: str) -> tuple[str, str]:
    """``projects/P/schemas/S@rev`` into the schema name and the revision id (may be '').

    Raises:
        StatusError: ``INVALID_ARGUMENT`` for a malformed name.
    """
    base, _, revision_id = name.partition("@")
    validate_name(base, "schemas")
    return base, revision_id


def view(pb: Any, view_enum: int) -> Any:
    """``pb`` as the requested ``SchemaView`` shows it (BASIC leaves out the definition)."""
    out = SchemaPb()
    out.CopyFrom(pb)
    if view_enum == _BASIC:
        out.ClearField("definition")
    return out


class SchemaRegistry:
    """Every schema of the emulator, by name (``projects/P/schemas/S``)."""

    def __init__(self) -> None:
        self.schemas: dict[str, SchemaEntry] = {}

    def entry(self, name: str) -> SchemaEntry:
        """The schema called ``name``. Raises: StatusError NOT_FOUND."""
        entry = self.schemas.get(name)
        if entry is None or not entry.revisions:
            raise StatusError.not_found(f"resource={name}")
        return entry

    def revision(self, name: str) -> Revision:
        """``projects/P/schemas/S`` (newest revision) or ``...@REV``.

        Raises:
            StatusError: INVALID_ARGUMENT (name), NOT_FOUND (schema or revision).
        """
        base, revision_id = split_name(name)
        entry = self.entry(base)
        if not revision_id:
            return entry.revisions[-1]
        found = entry.find(revision_id)
        if found is None:
            raise StatusError.not_found(f"resource={name}")
        return found

    def new_revision(self, name: str, source: Any, now_s: float) -> Any:
        """A revision resource for ``name`` with a fresh id, copied from ``source``."""
        pb = SchemaPb(name=name, type_=source.type_, definition=source.definition)
        pb.revision_id = secrets.token_hex(4)
        nanos = int(now_s * 1e9)
        pb.revision_create_time.seconds, pb.revision_create_time.nanos = divmod(nanos, 10**9)
        return pb

    def add(self, pb: Any, codec: Codec | None = None) -> Any:
        """Append a revision (creating the schema); returns it.

        Raises:
            StatusError: FAILED_PRECONDITION when the schema already has 20 revisions.
        """
        entry = self.schemas.setdefault(pb.name, SchemaEntry())
        if len(entry.revisions) >= MAX_REVISIONS:
            raise StatusError.failed_precondition(
                f"Schema {pb.name} already has the maximum of {MAX_REVISIONS} revisions; "
                "delete a revision first."
            )
        entry.revisions.append(Revision(pb=pb, codec=codec))
        return pb

    def remove_revision(self, name: str, revision_id: str) -> Any:
        """Delete one revision; returns it.

        Raises:
            StatusError: NOT_FOUND, FAILED_PRECONDITION (the schema's only revision).
        """
        entry = self.entry(name)
        found = entry.find(revision_id)
        if found is None:
            raise StatusError.not_found(f"resource={name}@{revision_id}")
        if len(entry.revisions) == 1:
            raise StatusError.failed_precondition(
                f"Cannot delete the only revision of schema {name}; delete the schema instead."
            )
        entry.revisions.remove(found)
        return found.pb

    def in_range(self, name: str, first: str, last: str) -> list[Revision]:
        """The revisions a topic accepts, newest first (``first``/``last`` inclusive, '' =
        unbounded). Raises: StatusError NOT_FOUND (schema)."""
        revisions = list(self.entry(name).revisions)
        ids = [r.pb.revision_id for r in revisions]
        low = ids.index(first) if first in ids else 0
        high = ids.index(last) if last in ids else len(ids) - 1
        return list(reversed(revisions[low : high + 1]))
