"""The SchemaService and schema-validated topics, with Google's own clients.

The definitions are those of Google's python-pubsub samples (``resources/us-states*``).
"""

from __future__ import annotations

import json
import re

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub import SchemaServiceClient
from google.pubsub_v1.types import Encoding, Schema, SchemaView

from tests.integration.pubsub_emulator.helpers import PROJECT, names, publisher

pytestmark = pytest.mark.integration

AVRO = json.dumps(
    {
        "type": "record",
        "name": "State",
        "namespace": "utilities",
        "fields": [
            {"name": "name", "type": "string"},
            {"name": "post_abbr", "type": "string"},
        ],
    }
)
AVRO_PLUS = json.dumps(
    {
        "type": "record",
        "name": "State",
        "namespace": "utilities",
        "fields": [
            {"name": "name", "type": "string"},
            {"name": "post_abbr", "type": "string"},
            {"name": "population", "type": "long", "default": 0},
        ],
    }
)
PROTO = """syntax = "proto3";

package utilities;

message StateProto {
  string name = 1;
  string post_abbr = 2;
}
"""
ALASKA_BINARY = b"\n\x06Alaska\x12\x02AK"
PARENT = f"projects/{PROJECT}"


def _schema_id(prefix: str) -> str:
    return names(prefix)[0].rsplit("/", 1)[-1]


def _create(client: SchemaServiceClient, type_: Schema.Type, definition: str, prefix: str) -> str:
    schema_id = _schema_id(prefix)
    schema = Schema(type_=type_, definition=definition)
    created = client.create_schema(
        request={"parent": PARENT, "schema": schema, "schema_id": schema_id}
    )
    return str(created.name)


def test_schema_lifecycle_and_revisions(shared_pubsub_host: str) -> None:
    client = SchemaServiceClient()
    schema_id = _schema_id("avro")
    name = f"{PARENT}/schemas/{schema_id}"
    first = client.create_schema(
        request={
            "parent": PARENT,
            "schema": Schema(type_=Schema.Type.AVRO, definition=AVRO),
            "schema_id": schema_id,
        }
    )
    assert first.name == name and first.definition == AVRO
    assert re.fullmatch(r"[0-9a-f]{8}", first.revision_id)
    assert first.revision_create_time.timestamp() > 0
    with pytest.raises(exceptions.AlreadyExists):
        client.create_schema(
            request={
                "parent": PARENT,
                "schema": Schema(type_=Schema.Type.AVRO, definition=AVRO),
                "schema_id": schema_id,
            }
        )
    assert client.get_schema(request={"name": name}).definition == AVRO
    basic = client.get_schema(request={"name": name, "view": SchemaView.BASIC})
    assert basic.definition == "" and basic.type_ == Schema.Type.AVRO
    listed = {s.name: s for s in client.list_schemas(request={"parent": PARENT})}
    assert listed[name].definition == ""
    full = client.list_schemas(request={"parent": PARENT, "view": SchemaView.FULL})
    assert {s.name: s.definition for s in full}[name] == AVRO

    second = client.commit_schema(
        request={"name": name, "schema": Schema(type_=Schema.Type.AVRO, definition=AVRO_PLUS)}
    )
    assert second.revision_id != first.revision_id
    assert client.get_schema(request={"name": name}).revision_id == second.revision_id
    old = client.get_schema(request={"name": f"{name}@{first.revision_id}"})
    assert old.definition == AVRO
    with pytest.raises(exceptions.InvalidArgument):
        client.commit_schema(
            request={
                "name": name,
                "schema": Schema(type_=Schema.Type.PROTOCOL_BUFFER, definition=PROTO),
            }
        )
    rolled = client.rollback_schema(request={"name": name, "revision_id": first.revision_id})
    assert rolled.definition == AVRO and rolled.revision_id not in {
        first.revision_id,
        second.revision_id,
    }
    revisions = [s.revision_id for s in client.list_schema_revisions(request={"name": name})]
    assert revisions == [rolled.revision_id, second.revision_id, first.revision_id]

    client.delete_schema_revision(request={"name": f"{name}@{second.revision_id}"})
    revisions = [s.revision_id for s in client.list_schema_revisions(request={"name": name})]
    assert revisions == [rolled.revision_id, first.revision_id]
    with pytest.raises(exceptions.NotFound):
        client.get_schema(request={"name": f"{name}@{second.revision_id}"})

    client.delete_schema(request={"name": name})
    with pytest.raises(exceptions.NotFound):
        client.get_schema(request={"name": name})


def test_bad_definitions_are_refused(shared_pubsub_host: str) -> None:
    client = SchemaServiceClient()
    bad = [
        (Schema.Type.AVRO, '{"type": "record", "fields": []}'),
        (Schema.Type.AVRO, "not json"),
        (Schema.Type.PROTOCOL_BUFFER, 'syntax = "proto3"; message A { strin x = 1; }'),
        (Schema.Type.PROTOCOL_BUFFER, 'syntax = "proto3"; message A {} message B {}'),
        (
            Schema.Type.PROTOCOL_BUFFER,
            'syntax = "proto3"; import "google/protobuf/struct.proto";'
            " message A { google.protobuf.Struct s = 1; }",
        ),
        (Schema.Type.TYPE_UNSPECIFIED, AVRO),
    ]
    for type_, definition in bad:
        schema = Schema(type_=type_, definition=definition)
        with pytest.raises(exceptions.InvalidArgument, match="Invalid schema"):
            client.validate_schema(request={"parent": PARENT, "schema": schema})
        with pytest.raises(exceptions.InvalidArgument):
            client.create_schema(
                request={"parent": PARENT, "schema": schema, "schema_id": _schema_id("bad")}
            )
    good = Schema(type_=Schema.Type.PROTOCOL_BUFFER, definition=PROTO)
    client.validate_schema(request={"parent": PARENT, "schema": good})


def test_validate_message(shared_pubsub_host: str) -> None:
    client = SchemaServiceClient()
    name = _create(client, Schema.Type.AVRO, AVRO, "validate")
    ok = json.dumps({"name": "Alaska", "post_abbr": "AK"}).encode()
    client.validate_message(
        request={"parent": PARENT, "name": name, "message": ok, "encoding": Encoding.JSON}
    )
    with pytest.raises(exceptions.InvalidArgument) as caught:
        client.validate_message(
            request={
                "parent": PARENT,
                "name": name,
                "message": b'{"name": 1}',
                "encoding": Encoding.JSON,
            }
        )
    assert caught.value.reason == "INVALID_JSON_AVRO_MESSAGE"
    adhoc = Schema(type_=Schema.Type.PROTOCOL_BUFFER, definition=PROTO)
    client.validate_message(
        request={
            "parent": PARENT,
            "schema": adhoc,
            "message": ALASKA_BINARY,
            "encoding": Encoding.BINARY,
        }
    )
    with pytest.raises(exceptions.NotFound):
        client.validate_message(
            request={
                "parent": PARENT,
                "name": name + "-missing",
                "message": ok,
                "encoding": Encoding.JSON,
            }
        )


def test_schema_topic_validates_publishes_and_labels_deliveries(shared_pubsub_host: str) -> None:
    client = SchemaServiceClient()
    schema = _create(client, Schema.Type.AVRO, AVRO, "topicavro")
    topic, sub = names("schematopic")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    created = pub.create_topic(
        request={"name": topic, "schema_settings": {"schema": schema, "encoding": Encoding.JSON}}
    )
    assert created.schema_settings.schema == schema
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    revision = client.get_schema(request={"name": schema}).revision_id

    pub.publish(topic, json.dumps({"name": "Alaska", "post_abbr": "AK"}).encode()).result(10)
    with pytest.raises(exceptions.InvalidArgument) as caught:
        pub.publish(topic, json.dumps({"name": "Alaska"}).encode()).result(10)
    assert "Invalid data in message: Message failed schema validation." in str(caught.value)
    assert caught.value.reason == "INVALID_JSON_AVRO_MESSAGE"
    assert caught.value.domain == "pubsub.googleapis.com"
    assert (
        "Could not validate message with any schema revision"
        in caught.value.metadata["revisionInfo"]
    )
    response = subscriber.pull(request={"subscription": sub, "max_messages": 10}, timeout=10)
    (received,) = response.received_messages
    assert dict(received.message.attributes) == {
        "googclient_schemaname": schema,
        "googclient_schemaencoding": "JSON",
        "googclient_schemarevisionid": revision,
    }

    # A newer revision, and the topic narrowed to it (Google's update_topic_schema sample).
    plus = client.commit_schema(
        request={"name": schema, "schema": Schema(type_=Schema.Type.AVRO, definition=AVRO_PLUS)}
    )
    pub.update_topic(
        request={
            "topic": {
                "name": topic,
                "schema_settings": {
                    "first_revision_id": plus.revision_id,
                    "last_revision_id": plus.revision_id,
                },
            },
            "update_mask": "schemaSettings.firstRevisionId,schemaSettings.lastRevisionId",
        }
    )
    data = json.dumps({"name": "Alaska", "post_abbr": "AK", "population": 733391}).encode()
    pub.publish(topic, data).result(10)
    subscriber.acknowledge(request={"subscription": sub, "ack_ids": [received.ack_id]})
    response = subscriber.pull(request={"subscription": sub, "max_messages": 10}, timeout=10)
    (received,) = response.received_messages
    assert received.message.attributes["googclient_schemarevisionid"] == plus.revision_id


def test_proto_binary_topic(shared_pubsub_host: str) -> None:
    client = SchemaServiceClient()
    schema = _create(client, Schema.Type.PROTOCOL_BUFFER, PROTO, "proto")
    topic, sub = names("prototopic")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(
        request={"name": topic, "schema_settings": {"schema": schema, "encoding": Encoding.BINARY}}
    )
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    pub.publish(topic, ALASKA_BINARY).result(10)
    with pytest.raises(exceptions.InvalidArgument) as caught:
        pub.publish(topic, b"\xff\xff\xff").result(10)
    assert caught.value.reason == "INVALID_BINARY_PROTO_MESSAGE"
    response = subscriber.pull(request={"subscription": sub, "max_messages": 10}, timeout=10)
    (received,) = response.received_messages
    assert received.message.attributes["googclient_schemaencoding"] == "BINARY"


def test_topic_settings_naming_a_missing_schema_or_revision_are_refused(
    shared_pubsub_host: str,
) -> None:
    client = SchemaServiceClient()
    pub = publisher()
    missing = f"{PARENT}/schemas/{_schema_id('nosuch')}"
    topic, _ = names("noschema")
    with pytest.raises(exceptions.NotFound):
        pub.create_topic(
            request={
                "name": topic,
                "schema_settings": {"schema": missing, "encoding": Encoding.JSON},
            }
        )
    with pytest.raises(exceptions.NotFound):
        pub.get_topic(topic=topic)
    schema = _create(client, Schema.Type.AVRO, AVRO, "settings")
    with pytest.raises(exceptions.InvalidArgument):
        pub.create_topic(request={"name": topic, "schema_settings": {"schema": schema}})
    with pytest.raises(exceptions.InvalidArgument):
        pub.create_topic(
            request={
                "name": topic,
                "schema_settings": {
                    "schema": schema,
                    "encoding": Encoding.JSON,
                    "first_revision_id": "00000000",
                },
            }
        )


def test_deleting_a_schema_marks_its_topics(shared_pubsub_host: str) -> None:
    client = SchemaServiceClient()
    schema = _create(client, Schema.Type.AVRO, AVRO, "deleted")
    topic, _ = names("deletedschema")
    pub = publisher()
    pub.create_topic(
        request={"name": topic, "schema_settings": {"schema": schema, "encoding": Encoding.JSON}}
    )
    client.delete_schema(request={"name": schema})
    assert pub.get_topic(topic=topic).schema_settings.schema == "_deleted-schema_"
    with pytest.raises(exceptions.FailedPrecondition):
        pub.publish(topic, b"{}").result(10)
