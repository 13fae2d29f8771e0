"""gRPC handlers of ``google.pubsub.v1.Publisher``, ``Subscriber`` and ``SchemaService``.

google-cloud-pubsub ships message classes but no servicer base classes, so the handlers are
registered by full method name with the raw protobuf classes as (de)serializers. Methods not
listed answer UNIMPLEMENTED, which is what gRPC does for unknown methods. The three services'
method tables are in :mod:`.service_publisher`, :mod:`.service_subscriber` and
:mod:`.service_schema`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import empty_pb2

from vbq_emulators.pubsub.broker import Broker
from vbq_emulators.pubsub.status import StatusError

__all__ = ["Empty", "handlers", "pb", "project", "unary"]

Empty: Any = empty_pb2.Empty


def pb(cls: Any) -> Any:
    """The raw protobuf class behind a proto-plus type."""
    return cls.pb()


def project(name: str) -> str:
    """``projects/P`` checked and returned. Raises: StatusError INVALID_ARGUMENT."""
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "projects" or not parts[1]:
        raise StatusError.invalid_argument(f"Invalid project name given (project={name}).")
    return name


def unary(behavior: Callable[[Any], Any], request_cls: Any, response_cls: Any) -> Any:
    """A unary handler running ``behavior(request)``; a StatusError becomes the RPC's status."""

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request)
        except StatusError as err:
            err.abort(context)

    return grpc.unary_unary_rpc_method_handler(
        handler,
        request_deserializer=request_cls.FromString,
        response_serializer=response_cls.SerializeToString,
    )


def handlers(broker: Broker) -> list[grpc.GenericRpcHandler[Any, Any]]:
    """The Publisher, Subscriber and SchemaService handlers over ``broker``."""
    from vbq_emulators.pubsub.service_publisher import publisher
    from vbq_emulators.pubsub.service_schema import schema_service
    from vbq_emulators.pubsub.service_subscriber import subscriber

    return [publisher(broker), subscriber(broker), schema_service(broker)]
