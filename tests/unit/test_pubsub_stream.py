"""vbq.pubsub.stream: done-callbacks of StreamingPull calls never run inside their registration."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from vbq.pubsub.stream import StreamingPullCall, SubscriberClient


class FakeGrpcCall:
    """gRPC's call as api-core wraps it: a callback added after the end runs at once."""

    def __init__(self, *, ended: bool = False) -> None:
        self.ended = ended
        self.callbacks: list[Callable[[Any], None]] = []
        self.responses = iter(["r1", "r2"])

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        if self.ended:
            fn(self)  # what grpc._channel._MultiThreadedRendezvous does
        else:
            self.callbacks.append(fn)

    def end(self) -> None:
        self.ended = True
        for fn in self.callbacks:
            fn(self)

    def is_active(self) -> bool:
        return not self.ended


class FakeApiCoreIterator:
    """api-core's ``_StreamingResponseIterator``: the gRPC call is ``_wrapped``."""

    def __init__(self, grpc_call: FakeGrpcCall) -> None:
        self._wrapped = grpc_call

    def __next__(self) -> Any:
        return next(self._wrapped.responses)

    def is_active(self) -> bool:
        return self._wrapped.is_active()


def test_callback_of_an_ended_call_is_not_run_inside_the_registration() -> None:
    grpc_call = FakeGrpcCall(ended=True)
    call = StreamingPullCall(FakeApiCoreIterator(grpc_call))
    seen: list[Any] = []
    call.add_done_callback(seen.append)
    assert seen == []  # the re-entry into open() that orphaned a stream cannot start here


def test_callback_of_a_live_call_runs_when_it_ends() -> None:
    grpc_call = FakeGrpcCall()
    call = StreamingPullCall(FakeApiCoreIterator(grpc_call))
    seen: list[Any] = []
    call.add_done_callback(seen.append)
    assert seen == []
    ender = threading.Thread(target=grpc_call.end)
    ender.start()
    ender.join()
    assert seen == [grpc_call]


def test_callback_for_a_call_that_ends_on_another_thread_while_registering_runs() -> None:
    grpc_call = FakeGrpcCall()
    seen: list[Any] = []

    def add_then_end_elsewhere(fn: Callable[[Any], None]) -> None:
        # gRPC's thread reports the end while the registering thread is still inside the call.
        ender = threading.Thread(target=fn, args=(grpc_call,))
        ender.start()
        ender.join()

    grpc_call.add_done_callback = add_then_end_elsewhere  # type: ignore[method-assign]
    StreamingPullCall(FakeApiCoreIterator(grpc_call)).add_done_callback(seen.append)
    assert seen == [grpc_call]


def test_private_attributes_are_not_passed_through_the_rest_is() -> None:
    inner = FakeApiCoreIterator(FakeGrpcCall())
    call = StreamingPullCall(inner)
    # api-core registers on ``call._wrapped`` when it exists: it must find this wrapper instead.
    assert not hasattr(call, "_wrapped")
    assert call.is_active() is True
    assert next(call) == "r1"
    assert list(call) == ["r2"]


def test_streaming_pull_returns_the_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud import pubsub_v1

    inner = FakeApiCoreIterator(FakeGrpcCall())
    monkeypatch.setattr(pubsub_v1.SubscriberClient, "streaming_pull", lambda self, *a, **k: inner)
    client = SubscriberClient.__new__(SubscriberClient)  # no channel needed for this
    call = client.streaming_pull(iter([]), metadata=())
    assert isinstance(call, StreamingPullCall)
    assert next(call) == "r1"


# -- through api-core's own ResumableBidiRpc (the code whose re-entry orphaned streams) ------


class ApiCoreStream:
    """api-core's iterator over a StreamingPull: raises once its gRPC call has ended."""

    def __init__(self, *, live: bool) -> None:
        self._wrapped = FakeGrpcCall(ended=not live)

    def __next__(self) -> Any:
        from google.api_core import exceptions

        if self._wrapped.ended:
            raise exceptions.ServiceUnavailable("Pub/Sub is down")
        return "response"

    def is_active(self) -> bool:
        return self._wrapped.is_active()

    def cancel(self) -> None:
        self._wrapped.end()


def _open_during_outage(*, wrap: bool, failed_opens: int) -> tuple[Any, list[ApiCoreStream]]:
    """A ResumableBidiRpc whose first ``failed_opens`` calls end at once (Pub/Sub down), then
    opened and read once, as the streaming-pull manager does."""
    from google.api_core import bidi

    started: list[ApiCoreStream] = []

    def start_rpc(requests: Any, metadata: Any = None) -> Any:
        stream = ApiCoreStream(live=len(started) >= failed_opens)
        started.append(stream)
        return StreamingPullCall(stream) if wrap else stream

    rpc = bidi.ResumableBidiRpc(start_rpc, should_recover=lambda exc: True)
    rpc.open()
    assert rpc.recv() == "response"
    return rpc, started


def _current(rpc: Any) -> Any:
    call = rpc.call
    return call._call if isinstance(call, StreamingPullCall) else call


def test_with_the_wrapper_a_reconnect_leaves_exactly_one_live_stream() -> None:
    rpc, started = _open_during_outage(wrap=True, failed_opens=4)
    live = [s for s in started if s.is_active()]
    assert len(started) == 5 and len(live) == 1
    assert _current(rpc) is live[0]  # the stream being read is the only one open


def test_googles_plain_path_orphans_a_live_stream() -> None:
    # The bug itself, in the installed google-api-core. If this starts failing, api-core no
    # longer re-enters open() from a done-callback and vbq.pubsub.stream may be retired.
    rpc, started = _open_during_outage(wrap=False, failed_opens=4)
    live = [s for s in started if s.is_active()]
    assert len(live) == 2
    orphans = [s for s in live if s is not _current(rpc)]
    assert len(orphans) == 1  # open, never read, never cancelled
