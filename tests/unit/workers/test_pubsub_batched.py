"""BatchedPublisher's request building and failure model, on a fake Publish RPC (pure logic:
the real RPC against the emulator is in tests/integration/events/test_batched_publisher.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from vbq.workers.pubsub_batched import BatchedPublisher, PausedKeyError


class _Response:
    def __init__(self, ids: list[str]) -> None:
        self.message_ids = ids


class _Api:
    """Records each request; ``behaviour(request_number, messages)`` may raise or block."""

    def __init__(self, behaviour: Callable[[int, list[Any]], None] | None = None) -> None:
        self.requests: list[tuple[str, list[Any]]] = []
        self.behaviour = behaviour
        self.lock = threading.Lock()
        self.in_flight_keys: set[str] = set()
        self.overlaps: list[str] = []

    def publish(self, *, topic: str, messages: list[Any], retry: Any, timeout: float) -> Any:
        keys = {m.ordering_key for m in messages if m.ordering_key}
        with self.lock:
            self.overlaps += sorted(keys & self.in_flight_keys)
            self.in_flight_keys |= keys
            n = len(self.requests)
            self.requests.append((topic, list(messages)))
        try:
            if self.behaviour is not None:
                self.behaviour(n, messages)
            return _Response([f"{n}-{i}" for i in range(len(messages))])
        finally:
            with self.lock:
                self.in_flight_keys -= keys


class _Client:
    def __init__(self, api: _Api) -> None:
        self.api = api
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


def _publisher(api: _Api, **kwargs: Any) -> BatchedPublisher:
    return BatchedPublisher(client=_Client(api), retry_pause_s=0.01, **kwargs)


def test_many_keys_travel_in_one_request_in_publish_order() -> None:
    gate = threading.Event()
    api = _Api(lambda n, _m: gate.wait(5) if n == 0 else None)
    pub = _publisher(api, senders=1)
    first = pub.publish("t", b"0", attributes={}, ordering_key="k0")
    time.sleep(0.05)  # the first request is in flight; the rest queue behind it
    futures = [pub.publish("t", f"{i}".encode(), attributes={"a": "b"}, ordering_key=f"k{i}")
               for i in range(1, 301)]  # fmt: skip
    gate.set()
    assert first.result(5) == "0-0"
    assert [f.result(5) for f in futures] == [f"1-{i}" for i in range(300)]
    pub.close()
    assert len(api.requests) == 2
    assert [m.ordering_key for m in api.requests[1][1]] == [f"k{i}" for i in range(1, 301)]
    assert api.requests[1][1][0].attributes == {"a": "b"}


def test_a_key_has_one_request_in_flight_and_keeps_its_order() -> None:
    api = _Api(lambda _n, _m: time.sleep(0.01))
    pub = _publisher(api, senders=4, max_messages=3)
    futures = [
        (key, i, pub.publish("t", f"{key}{i}".encode(), attributes={}, ordering_key=key))
        for i in range(20)
        for key in ("a", "b", "c")
    ]
    for _, _, f in futures:
        f.result(5)
    pub.close()
    assert api.overlaps == []
    sent = [m.data.decode() for _, msgs in api.requests for m in msgs]
    for key in ("a", "b", "c"):
        assert [d for d in sent if d.startswith(key)] == [f"{key}{i}" for i in range(20)]


def test_a_request_holds_one_topic() -> None:
    gate = threading.Event()
    api = _Api(lambda n, _m: gate.wait(5) if n == 0 else None)
    pub = _publisher(api, senders=1)
    fs = [pub.publish("t0", b"x", attributes={}, ordering_key="")]
    time.sleep(0.05)
    fs += [pub.publish(t, b"x", attributes={}, ordering_key="") for t in ("t1", "t2", "t1")]
    gate.set()
    for f in fs:
        f.result(5)
    pub.close()
    assert [(topic, len(m)) for topic, m in api.requests] == [("t0", 1), ("t1", 2), ("t2", 1)]


def test_a_permanent_failure_pauses_its_keys_until_resumed() -> None:
    def refuse_first(n: int, _m: list[Any]) -> None:
        if n == 0:
            raise gexc.InvalidArgument("bad message")

    gate = threading.Event()
    api = _Api(lambda n, m: (gate.wait(5), refuse_first(n, m)))
    pub = _publisher(api, senders=1)
    failed = pub.publish("t", b"1", attributes={}, ordering_key="k")
    time.sleep(0.05)
    queued_behind = pub.publish("t", b"2", attributes={}, ordering_key="k")
    other = pub.publish("t", b"3", attributes={}, ordering_key="other")
    gate.set()
    with pytest.raises(gexc.InvalidArgument):
        failed.result(5)
    with pytest.raises(PausedKeyError):
        queued_behind.result(5)
    assert other.result(5)
    with pytest.raises(PausedKeyError):
        pub.publish("t", b"4", attributes={}, ordering_key="k").result(5)
    pub.resume("t", "k")
    assert pub.publish("t", b"5", attributes={}, ordering_key="k").result(5)
    pub.close()


def test_transient_failures_are_retried_until_pubsub_is_back() -> None:
    api = _Api(
        lambda n, _m: (_ for _ in ()).throw(gexc.ServiceUnavailable("down")) if n < 3 else None
    )
    pub = _publisher(api, senders=1)
    assert pub.publish("t", b"x", attributes={}, ordering_key="k").result(5) == "3-0"
    pub.close()
    assert len(api.requests) == 4


def test_close_sends_what_is_queued_and_refuses_more() -> None:
    api = _Api(lambda _n, _m: time.sleep(0.02))
    pub = _publisher(api, senders=2, max_messages=10)
    fs = [pub.publish("t", b"x", attributes={}, ordering_key=f"k{i % 7}") for i in range(100)]
    pub.close()
    assert all(f.done() and f.exception() is None for f in fs)
    with pytest.raises(RuntimeError):
        pub.publish("t", b"x", attributes={}, ordering_key="k")


def test_one_refused_message_fails_only_its_own_key() -> None:
    def refuse_bad(_n: int, messages: list[Any]) -> None:
        if any(m.data == b"bad" for m in messages):
            raise gexc.InvalidArgument("Message failed schema validation")

    gate = threading.Event()
    api = _Api(lambda n, m: (gate.wait(5) if n == 0 else None, refuse_bad(n, m)))
    pub = _publisher(api, senders=1)
    first = pub.publish("t", b"x", attributes={}, ordering_key="k0")
    time.sleep(0.05)
    futures = {
        key: pub.publish("t", b"bad" if key == "k13" else b"ok", attributes={}, ordering_key=key)
        for key in (f"k{i}" for i in range(1, 40))
    }
    gate.set()
    assert first.result(5)
    with pytest.raises(gexc.InvalidArgument):
        futures.pop("k13").result(5)
    assert all(f.result(5) for f in futures.values())
    with pytest.raises(PausedKeyError):
        pub.publish("t", b"later", attributes={}, ordering_key="k13").result(5)
    pub.close()


def test_closing_during_an_outage_fails_the_queue_and_never_reorders_a_key() -> None:
    def down(_n: int, _m: list[Any]) -> None:
        raise gexc.ServiceUnavailable("down")

    api = _Api(down)
    pub = _publisher(api, senders=1)
    m1 = pub.publish("t", b"m1", attributes={}, ordering_key="k")
    time.sleep(0.05)  # m1 is being retried; m2 waits behind it
    m2 = pub.publish("t", b"m2", attributes={}, ordering_key="k")
    others = [pub.publish("t", b"o", attributes={}, ordering_key=f"o{i}") for i in range(5)]
    started = time.monotonic()
    pub.close()
    assert time.monotonic() - started < 5
    for f in (m1, m2, *others):
        assert f.exception(1) is not None
    sent = [m.data for _, msgs in api.requests for m in msgs]
    assert b"m2" not in sent


def test_a_future_cannot_be_cancelled_behind_the_publishers_back() -> None:
    api = _Api(lambda _n, _m: time.sleep(0.05))
    pub = _publisher(api, senders=1)
    future = pub.publish("t", b"x", attributes={}, ordering_key="k")
    assert not future.cancel()
    assert future.result(5)
    pub.close()
