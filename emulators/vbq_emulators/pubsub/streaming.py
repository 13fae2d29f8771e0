"""The StreamingPull RPC: deliver within the client's flow control, take acks on the side.

Google's client sends a first request naming the subscription, its ack deadline and its flow
control (``max_outstanding_messages``/``bytes``), then empty heartbeats, and acks over unary
calls (older clients put ``ack_ids`` and ``modify_deadline_*`` on the stream; both work).
A reader thread consumes requests while the handler's generator yields responses, so acks
never wait behind a blocked send.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import grpc
from google.pubsub_v1 import types

from vbq.logs import get_logger
from vbq_emulators.pubsub import config
from vbq_emulators.pubsub.broker import Broker
from vbq_emulators.pubsub.model import StreamState
from vbq_emulators.pubsub.status import StatusError

__all__ = ["streaming_pull"]

log = get_logger(__name__)

StreamingPullResponsePb: Any = types.StreamingPullResponse.pb()

WAIT_SLICE_S = 1.0
"""Longest a sender waits before checking that its client is still there, seconds."""


def _check_deadline(seconds: int) -> None:
    if not config.MIN_ACK_DEADLINE_S <= seconds <= config.MAX_ACK_DEADLINE_S:
        raise StatusError.invalid_argument(
            f"Invalid stream_ack_deadline_seconds: {seconds} (must be between 10 and 600)."
        )


def _apply_request(broker: Broker, stream: StreamState, request: Any) -> None:
    name = stream.subscription
    if request.stream_ack_deadline_seconds:
        _check_deadline(request.stream_ack_deadline_seconds)
        stream.ack_deadline_s = float(request.stream_ack_deadline_seconds)
    if request.ack_ids:
        broker.acknowledge(name, list(request.ack_ids))
    if len(request.modify_deadline_ack_ids) != len(request.modify_deadline_seconds):
        raise StatusError.invalid_argument(
            "modify_deadline_ack_ids and modify_deadline_seconds must have the same length."
        )
    by_seconds: dict[int, list[str]] = defaultdict(list)
    for ack_id, seconds in zip(
        request.modify_deadline_ack_ids, request.modify_deadline_seconds, strict=True
    ):
        by_seconds[seconds].append(ack_id)
    for seconds, ack_ids in by_seconds.items():
        broker.modify_ack_deadline(name, ack_ids, seconds)


def _read_requests(broker: Broker, stream: StreamState, requests: Iterator[Any]) -> None:
    reason = "client half-closed"
    try:
        for request in requests:
            if not stream.open:
                reason = "closed by the server"
                break
            stream.requests += 1
            stream.last_request_s = broker.now_s()
            try:
                _apply_request(broker, stream, request)
            except StatusError as err:
                log.warning("pubsub_stream_request_refused", error=str(err))
    except grpc.RpcError:
        reason = "client went away"  # the sender notices through close_stream
    except Exception:
        reason = "reader failed"
        log.exception("pubsub_stream_reader_failed")
    finally:
        broker.close_stream(stream, reason=reason)


def streaming_pull(
    broker: Broker, requests: Iterator[Any], context: grpc.ServicerContext
) -> Iterator[Any]:
    """Serve one StreamingPull stream until the client or the server ends it.

    Aborts the RPC with NOT_FOUND (no such subscription, or it was deleted), INVALID_ARGUMENT
    (a bad first request) or UNAVAILABLE (the server is stopping; the client reconnects).
    """
    try:
        first = next(requests)
    except StopIteration:
        return
    stream: StreamState | None = None
    try:
        config.validate_name(first.subscription, "subscriptions")
        _check_deadline(first.stream_ack_deadline_seconds)
        stream = broker.open_stream(
            first.subscription,
            client_id=first.client_id,
            ack_deadline_s=float(first.stream_ack_deadline_seconds),
            max_messages=first.max_outstanding_messages,
            max_bytes=first.max_outstanding_bytes,
            peer=context.peer(),
        )
        stream.requests = 1
        _apply_request(broker, stream, first)
        opened = stream
        context.add_callback(lambda: broker.close_stream(opened, reason="rpc ended"))
        threading.Thread(
            target=_read_requests,
            args=(broker, stream, requests),
            name=f"pubsub-stream-{stream.stream_id}",
            daemon=True,
        ).start()
        exactly_once, ordering = broker.subscription_properties(first.subscription)
        while True:
            batch = broker.next_batch(stream, timeout_s=WAIT_SLICE_S)
            if batch is None:
                break
            if not batch:
                if not context.is_active():
                    break
                continue
            response = StreamingPullResponsePb()
            response.received_messages.extend(batch)
            response.subscription_properties.exactly_once_delivery_enabled = exactly_once
            response.subscription_properties.message_ordering_enabled = ordering
            stream.sending_since_s = broker.now_s()
            yield response
            stream.sending_since_s = 0.0
    except StatusError as err:
        context.abort(err.code, err.message)
    finally:
        if stream is not None:
            broker.close_stream(stream, reason="sender ended")
    if broker.stopping:
        context.abort(grpc.StatusCode.UNAVAILABLE, "The emulator is shutting down.")
