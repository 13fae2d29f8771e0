"""The ``google.pubsub.v1.SchemaService`` method table."""

from __future__ import annotations

from typing import Any

import grpc
from google.pubsub_v1 import types as t

from vbq_emulators.pubsub.broker import Broker
from vbq_emulators.pubsub.service import Empty, pb, unary

__all__ = ["schema_service"]


def schema_service(broker: Broker) -> grpc.GenericRpcHandler[Any, Any]:
    """The SchemaService handler over ``broker``."""

    def create_schema(req: Any) -> Any:
        return broker.create_schema(req.parent, req.schema, req.schema_id)

    def list_schemas(req: Any) -> Any:
        schemas, token = broker.list_schemas(
            req.parent, int(req.view), page_size=req.page_size, page_token=req.page_token
        )
        return pb(t.ListSchemasResponse)(schemas=schemas, next_page_token=token)

    def list_revisions(req: Any) -> Any:
        schemas, token = broker.list_schema_revisions(
            req.name, int(req.view), page_size=req.page_size, page_token=req.page_token
        )
        return pb(t.ListSchemaRevisionsResponse)(schemas=schemas, next_page_token=token)

    def delete_schema(req: Any) -> Any:
        broker.delete_schema(req.name)
        return Empty()

    def validate_schema(req: Any) -> Any:
        broker.validate_schema(req.parent, req.schema)
        return pb(t.ValidateSchemaResponse)()

    def validate_message(req: Any) -> Any:
        schema = req.schema if req.HasField("schema") else None
        broker.validate_message(
            req.parent, name=req.name, schema=schema, data=req.message, encoding=int(req.encoding)
        )
        return pb(t.ValidateMessageResponse)()

    methods = {
        "CreateSchema": unary(create_schema, pb(t.CreateSchemaRequest), pb(t.Schema)),
        "GetSchema": unary(
            lambda req: broker.get_schema(req.name, int(req.view)),
            pb(t.GetSchemaRequest),
            pb(t.Schema),
        ),
        "ListSchemas": unary(list_schemas, pb(t.ListSchemasRequest), pb(t.ListSchemasResponse)),
        "ListSchemaRevisions": unary(
            list_revisions, pb(t.ListSchemaRevisionsRequest), pb(t.ListSchemaRevisionsResponse)
        ),
        "CommitSchema": unary(
            lambda req: broker.commit_schema(req.name, req.schema),
            pb(t.CommitSchemaRequest),
            pb(t.Schema),
        ),
        "RollbackSchema": unary(
            lambda req: broker.rollback_schema(req.name, req.revision_id),
            pb(t.RollbackSchemaRequest),
            pb(t.Schema),
        ),
        "DeleteSchemaRevision": unary(
            lambda req: broker.delete_schema_revision(req.name, req.revision_id),
            pb(t.DeleteSchemaRevisionRequest),
            pb(t.Schema),
        ),
        "DeleteSchema": unary(delete_schema, pb(t.DeleteSchemaRequest), Empty),
        "ValidateSchema": unary(
            validate_schema, pb(t.ValidateSchemaRequest), pb(t.ValidateSchemaResponse)
        ),
        "ValidateMessage": unary(
            validate_message, pb(t.ValidateMessageRequest), pb(t.ValidateMessageResponse)
        ),
    }
    return grpc.method_handlers_generic_handler("google.pubsub.v1.SchemaService", methods)
