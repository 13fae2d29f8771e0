"""The job event as a Pub/Sub schema: register it, attach it to the events topic, encode for it.

Why protocol buffers, and why two fields are JSON text: Pub/Sub validates JSON-encoded messages
against an Avro schema with Avro's JSON encoding (a nullable value must be written
``{"string": "RUNNING"}``) or against a protocol buffer schema with the proto3 JSON mapping
(``null`` is accepted for any field). vbq's event JSON writes ``previous_state`` as a plain
string or ``null``, so only the protocol buffer mapping can accept it unchanged. But ``job`` (the
Vertex resource as returned, with open-ended parts such as ``modelParameters``) and
``request.metadata`` (whatever the submitter attached) are arbitrary JSON, which neither format
can describe: protobuf would need ``google.protobuf.Struct``, and Pub/Sub schemas may not import
other files. So on a topic with this schema vbq publishes :meth:`JobEvent.to_schema_json`: the
same event with those two objects as JSON text; every other field is typed as on the wire.
:meth:`JobEvent.from_json` reads both encodings, so subscribers work on either kind of topic.

The relay picks the encoding from the topic itself (:class:`TopicEncoding`): the schema
encoding when the topic's ``schema_settings`` name ``Settings.events_schema``, plain JSON
otherwise (topics made before, or Google's emulator without schema support).
"""

from __future__ import annotations

import threading
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from vbq.errors import PubSubError
from vbq.events import JobEvent
from vbq.logs import get_logger
from vbq.settings import Settings

__all__ = [
    "EVENT_SCHEMA_DEFINITION",
    "TopicEncoding",
    "ensure_event_schema",
    "event_schema_path",
    "schema_client",
]

_log = get_logger("vbq.pubsub.event_schema")

EVENT_SCHEMA_DEFINITION = """\
// vbq.job-event/1 as a Pub/Sub schema, JSON encoding (vbq docs/contracts.md, Event schema).
// job and request.metadata are JSON text: a Pub/Sub schema cannot import
// google/protobuf/struct.proto, so arbitrary JSON cannot be typed.
syntax = "proto3";

package vbq;

message JobEvent {
  string schema = 1;
  string event_id = 2;
  string type = 3;
  string submission_id = 4;
  string state = 5;
  string previous_state = 6;
  string occurred_at = 7;
  string job = 8;
  Request request = 9;
  string results = 10;  // JSON text: what a finished job's outputs held (requests, tokens)

  message Request {
    string tenant = 1;
    map<string, string> labels = 2;
    string metadata = 3;
    string location = 4;  // where the job was placed (docs/contracts.md, Placement)
    string priority = 5;  // interactive, default or bulk (docs/contracts.md, Scheduler)
  }
}
"""

REFRESH_S = 60.0
"""How often :class:`TopicEncoding` reads the topic's schema settings again, seconds."""


def event_schema_path(settings: Settings) -> str:
    """``projects/P/schemas/{Settings.events_schema}`` ('' when no schema is configured)."""
    if not settings.events_schema:
        return ""
    if settings.events_schema.startswith("projects/"):
        return settings.events_schema
    project = settings.events_topic_path().split("/")[1]
    return f"projects/{project}/schemas/{settings.events_schema}"


def schema_client(settings: Settings) -> pubsub_v1.SchemaServiceClient:
    """A ``SchemaServiceClient`` for ``settings`` (the emulator when one is configured)."""
    from google.pubsub_v1.services.schema_service.transports import SchemaServiceGrpcTransport

    from vbq.pubsub.admin import emulator_transport

    kwargs: dict[str, Any] = {}
    if settings.pubsub_emulator_host:
        kwargs["transport"] = emulator_transport(
            settings.pubsub_emulator_host, SchemaServiceGrpcTransport
        )
    return pubsub_v1.SchemaServiceClient(**kwargs)


def ensure_event_schema(settings: Settings) -> str:
    """Register the event schema unless it exists with this definition; returns its path.

    A schema of that name with another definition gets a new revision (a vbq upgrade); topics
    whose settings allow every revision accept events of either. Returns '' when no schema is
    configured or the Pub/Sub service has no schema support (UNIMPLEMENTED, e.g. an emulator).

    Raises:
        PubSubError: Pub/Sub refused (other than "exists") or could not be reached.
    """
    path = event_schema_path(settings)
    if not path:
        return ""
    from google.pubsub_v1.types import Schema

    client = schema_client(settings)
    wanted = Schema(
        name=path, type_=Schema.Type.PROTOCOL_BUFFER, definition=EVENT_SCHEMA_DEFINITION
    )
    try:
        try:
            current = client.get_schema(request={"name": path}, timeout=30.0)
        except gexc.NotFound:
            parent, schema_id = path.rsplit("/schemas/", 1)
            try:
                client.create_schema(
                    request={"parent": parent, "schema": wanted, "schema_id": schema_id},
                    timeout=30.0,
                )
            except gexc.AlreadyExists:
                pass
            return path
        if current.definition != EVENT_SCHEMA_DEFINITION:
            client.commit_schema(request={"name": path, "schema": wanted}, timeout=30.0)
            _log.info("event_schema.revised", schema=path)
        return path
    except gexc.MethodNotImplemented:
        _log.warning("event_schema.unsupported", schema=path)
        return ""
    except gexc.GoogleAPICallError as exc:
        raise PubSubError(f"event schema {path}: {exc}") from exc
    finally:
        client.transport.close()


class TopicEncoding:
    """Chooses how the relay encodes events for the events topic, and keeps checking.

    :meth:`encode` uses the schema encoding while the topic's ``schema_settings.schema`` is
    the configured event schema. The topic is read at construction (5 s at most) and every
    :data:`REFRESH_S` seconds in a background thread; errors keep the previous choice.

    Args:
        settings: topic, schema name and Pub/Sub address.
        refresh_s: seconds between reads of the topic.
    """

    def __init__(self, settings: Settings, *, refresh_s: float = REFRESH_S) -> None:
        from vbq.pubsub.admin import publisher_client

        self._topic = settings.events_topic_path()
        self._schema = event_schema_path(settings)
        self._refresh_s = refresh_s
        self._client = publisher_client(settings, enable_message_ordering=False)
        self._stop = threading.Event()
        self.uses_schema = False
        self._thread: threading.Thread | None = None
        if self._schema:
            self.refresh()
            self._thread = threading.Thread(
                target=self._run, name="vbq-topic-encoding", daemon=True
            )
            self._thread.start()

    def refresh(self) -> bool:
        """Read the topic's schema settings now; returns whether the schema encoding is used."""
        try:
            topic = self._client.get_topic(request={"topic": self._topic}, timeout=5.0)
        except gexc.GoogleAPICallError as exc:
            _log.info("event_schema.topic_unread", topic=self._topic, error=str(exc))
            return self.uses_schema
        uses = bool(topic.schema_settings.schema == self._schema)
        if uses != self.uses_schema:
            _log.info("event_schema.encoding", topic=self._topic, schema=uses)
        self.uses_schema = uses
        return uses

    def encode(self, event: JobEvent) -> bytes:
        """The message data for ``event`` on the events topic."""
        return (event.to_schema_json() if self.uses_schema else event.to_json()).encode()

    def _run(self) -> None:
        while not self._stop.wait(self._refresh_s):
            self.refresh()

    def close(self) -> None:
        """Stop refreshing and close the client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._client.stop()
