"""The SchemaService on the broker's state, and schema validation of published messages.

A topic with ``schema_settings`` accepts a message when its data matches one of the schema's
revisions in ``[first_revision_id, last_revision_id]``, tried newest first; the message is
delivered with ``googclient_schemaname``, ``googclient_schemaencoding`` and
``googclient_schemarevisionid``. A message that matches none fails the whole Publish with
Google's ``INVALID_ARGUMENT: Invalid data in message: Message failed schema validation.`` and a
``google.rpc.ErrorInfo`` (reason ``INVALID_JSON_AVRO_MESSAGE`` and the like).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.pubsub_v1 import types
from google.rpc import error_details_pb2

from vbq_emulators.errors import SchemaMessageError
from vbq_emulators.pubsub.config import page, validate_name
from vbq_emulators.pubsub.schema_registry import (
    Codec,
    SchemaPb,
    SchemaRegistry,
    compile_definition,
    split_name,
    view,
)
from vbq_emulators.pubsub.state import BrokerState, b64
from vbq_emulators.pubsub.status import StatusError
from vbq_emulators.pubsub.topic_config import DELETED_SCHEMA

__all__ = ["SchemaOps", "check_project"]

_JSON, _BINARY = int(types.Encoding.JSON), int(types.Encoding.BINARY)
_ENCODING_NAMES = {_JSON: "JSON", _BINARY: "BINARY"}
_FAILED = "Message failed schema validation"


def check_project(name: str) -> str:
    """``projects/P`` checked and returned. Raises: StatusError INVALID_ARGUMENT."""
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "projects" or not parts[1]:
        raise StatusError.invalid_argument(f"Invalid project name given (project={name}).")
    return name


def _validate(codec: Codec, data: bytes, encoding: int) -> None:
    if encoding == _JSON:
        codec.validate_json(data)
    elif encoding == _BINARY:
        codec.validate_binary(data)
    else:
        raise StatusError.invalid_argument("Invalid encoding: must be JSON or BINARY.")


def _invalid_message(codec: Codec, encoding: int, revision_info: str) -> StatusError:
    kind = codec.kind
    info = error_details_pb2.ErrorInfo(
        reason=f"INVALID_{_ENCODING_NAMES.get(encoding, 'JSON')}_{kind}_MESSAGE",
        domain="pubsub.googleapis.com",
        metadata={"message": _FAILED, "revisionInfo": revision_info},
    )
    return StatusError.invalid_argument(f"Invalid data in message: {_FAILED}.").with_details(info)


class SchemaOps(BrokerState):
    """CreateSchema ... ValidateMessage, with every change journaled."""

    def _init_schemas(self) -> None:
        self.schemas = SchemaRegistry()

    # -- resources ------------------------------------------------------------------------

    def create_schema(self, parent: str, schema: Any, schema_id: str) -> Any:
        """CreateSchema. Raises: StatusError INVALID_ARGUMENT, ALREADY_EXISTS."""
        name = f"{check_project(parent)}/schemas/{schema_id}"
        validate_name(name, "schemas")
        codec = compile_definition(int(schema.type_), schema.definition)
        with self._lock:
            if name in self.schemas.schemas:
                raise StatusError.already_exists(f"resource={name}")
            pb = self.schemas.new_revision(name, schema, self._clock())
            self.schemas.add(pb, codec)
            self._write({"op": "schema", "pb": b64(pb.SerializeToString())})
            self._flush()
            return view(pb, 0)

    def get_schema(self, name: str, view_enum: int) -> Any:
        """GetSchema (``name`` may end in ``@REVISION``). Raises: StatusError NOT_FOUND."""
        with self._lock:
            return view(self.schemas.revision(name).pb, view_enum)

    def list_schemas(
        self, parent: str, view_enum: int, *, page_size: int, page_token: str
    ) -> tuple[list[Any], str]:
        """ListSchemas: the newest revision of each schema, by name; BASIC unless FULL."""
        prefix = f"{check_project(parent)}/schemas/"
        shown = view_enum if view_enum else int(types.SchemaView.BASIC)
        with self._lock:
            names = [n for n, e in self.schemas.schemas.items() if n.startswith(prefix)]
            chunk, token = page(names, page_size, page_token)
            return [view(self.schemas.entry(n).revisions[-1].pb, shown) for n in chunk], token

    def list_schema_revisions(
        self, name: str, view_enum: int, *, page_size: int, page_token: str
    ) -> tuple[list[Any], str]:
        """ListSchemaRevisions: newest first. Raises: StatusError NOT_FOUND."""
        base, _ = split_name(name)
        shown = view_enum if view_enum else int(types.SchemaView.BASIC)
        with self._lock:
            revisions = list(reversed(self.schemas.entry(base).revisions))
            start = int(page_token) if page_token.isdigit() else 0
            size = page_size if page_size > 0 else len(revisions) or 1
            chunk = revisions[start : start + size]
            more = start + size < len(revisions)
            return [view(r.pb, shown) for r in chunk], (str(start + size) if more else "")

    def commit_schema(self, name: str, schema: Any) -> Any:
        """CommitSchema: a new revision. Raises: StatusError NOT_FOUND, INVALID_ARGUMENT."""
        base, _ = split_name(name)
        codec = compile_definition(int(schema.type_), schema.definition)
        with self._lock:
            newest = self.schemas.entry(base).revisions[-1].pb
            if int(schema.type_) != int(newest.type_):
                raise StatusError.invalid_argument(
                    "Invalid schema type: a revision must have the schema's type "
                    f"({SchemaPb.Type.Name(newest.type_)})."
                )
            return self._add_revision(self.schemas.new_revision(base, schema, self._clock()), codec)

    def rollback_schema(self, name: str, revision_id: str) -> Any:
        """RollbackSchema: a new revision copying ``revision_id``. Raises: NOT_FOUND."""
        base, _ = split_name(name)
        if not revision_id:
            raise StatusError.invalid_argument("revision_id is required.")
        with self._lock:
            old = self.schemas.revision(f"{base}@{revision_id}")
            pb = self.schemas.new_revision(base, old.pb, self._clock())
            return self._add_revision(pb, old.codec)

    def _add_revision(self, pb: Any, codec: Codec | None) -> Any:
        self.schemas.add(pb, codec)
        self._write({"op": "schema", "pb": b64(pb.SerializeToString())})
        self._flush()
        return view(pb, 0)

    def delete_schema_revision(self, name: str, revision_id: str = "") -> Any:
        """DeleteSchemaRevision (``name@REV``); returns the deleted revision.

        Raises:
            StatusError: INVALID_ARGUMENT (no revision named), NOT_FOUND, FAILED_PRECONDITION
                (the only revision).
        """
        base, from_name = split_name(name)
        revision_id = from_name or revision_id
        if not revision_id:
            raise StatusError.invalid_argument(
                "Name the revision to delete: projects/P/schemas/S@REVISION_ID."
            )
        with self._lock:
            pb = self.schemas.remove_revision(base, revision_id)
            self._write({"op": "delschemarev", "name": base, "rev": revision_id})
            self._flush()
            return view(pb, 0)

    def delete_schema(self, name: str) -> None:
        """DeleteSchema; topics that use it read ``_deleted-schema_``. Raises: NOT_FOUND."""
        base, _ = split_name(name)
        with self._lock:
            self.schemas.entry(base)
            self._remove_schema(base)
            self._write({"op": "delschema", "name": base})
            self._flush()

    def _remove_schema(self, name: str) -> None:
        self.schemas.schemas.pop(name, None)
        for topic in self._topics.values():
            if topic.HasField("schema_settings") and topic.schema_settings.schema == name:
                topic.schema_settings.schema = DELETED_SCHEMA

    # -- validation -----------------------------------------------------------------------

    def validate_schema(self, parent: str, schema: Any) -> None:
        """ValidateSchema. Raises: StatusError INVALID_ARGUMENT."""
        check_project(parent)
        compile_definition(int(schema.type_), schema.definition)

    def validate_message(
        self, parent: str, *, name: str, schema: Any, data: bytes, encoding: int
    ) -> None:
        """ValidateMessage against a named schema (or revision) or an ad-hoc one.

        Raises:
            StatusError: NOT_FOUND (schema), INVALID_ARGUMENT (encoding, or the message does not
                match: ``Invalid data in message: ...``).
        """
        check_project(parent)
        if name:
            with self._lock:
                revision = self.schemas.revision(name)
                codec, label = revision.compiled(), f"revision_id={revision.pb.revision_id}"
        elif schema is not None and schema.definition:
            codec, label = compile_definition(int(schema.type_), schema.definition), "ad hoc"
        else:
            raise StatusError.invalid_argument("Name a schema or give one to validate against.")
        try:
            _validate(codec, data, encoding)
        except SchemaMessageError as exc:
            raise _invalid_message(codec, encoding, f"{label} failed with status: {exc}") from None

    def check_topic_schema(self, topic: Any) -> None:
        """Refuse schema settings naming a schema or revision that does not exist (caller holds
        the lock). Raises: StatusError NOT_FOUND, INVALID_ARGUMENT."""
        if not topic.HasField("schema_settings"):
            return
        settings = topic.schema_settings
        if settings.schema == DELETED_SCHEMA:
            return
        entry = self.schemas.entry(settings.schema)
        ids = [r.pb.revision_id for r in entry.revisions]
        for field in ("first_revision_id", "last_revision_id"):
            value = getattr(settings, field)
            if value and value not in ids:
                raise StatusError.invalid_argument(
                    f"Invalid schema_settings.{field}: {value!r} is not a revision of "
                    f"{settings.schema}."
                )
        first, last = settings.first_revision_id, settings.last_revision_id
        if first and last and ids.index(first) > ids.index(last):
            raise StatusError.invalid_argument(
                "Invalid schema_settings: first_revision_id is newer than last_revision_id."
            )

    def schema_attributes(self, topic: Any, messages: Sequence[Any]) -> list[dict[str, str]]:
        """For a Publish to ``topic``: the ``googclient_*`` attributes of each message (empty
        dicts without schema settings). Caller holds the lock.

        Raises:
            StatusError: INVALID_ARGUMENT (a message matches no revision), FAILED_PRECONDITION
                (the topic's schema was deleted).
        """
        if not topic.HasField("schema_settings"):
            return [{} for _ in messages]
        settings = topic.schema_settings
        if settings.schema == DELETED_SCHEMA:
            raise StatusError.failed_precondition(
                f"The schema of topic {topic.name} was deleted; publishing is refused."
            )
        revisions = self.schemas.in_range(
            settings.schema, settings.first_revision_id, settings.last_revision_id
        )
        encoding = int(settings.encoding)
        out = []
        for message in messages:
            problem = ""
            for revision in revisions:
                try:
                    _validate(revision.compiled(), message.data, encoding)
                except SchemaMessageError as exc:
                    problem = f"revision_id={revision.pb.revision_id} failed with status: {exc}"
                    continue
                out.append(
                    {
                        "googclient_schemaname": settings.schema,
                        "googclient_schemaencoding": _ENCODING_NAMES[encoding],
                        "googclient_schemarevisionid": revision.pb.revision_id,
                    }
                )
                break
            else:
                info = (
                    "Could not validate message with any schema revision for schema: "
                    f"{settings.schema}, last checked revision: {problem}"
                )
                raise _invalid_message(revisions[-1].compiled(), encoding, info)
        return out
