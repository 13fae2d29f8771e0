"""PublishWindow: which outbox entries may be deleted without breaking per-key order, when a
failed key pauses and resumes, and that dead letters never hold events back."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

from vbq.workers.publish_window import PublishWindow

TOPIC = "projects/p/topics/events"


@dataclass
class Publisher:
    """Hands out futures the test settles; ``refuse`` raises at publish time."""

    futures: dict[bytes, Future[str]] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    refuse: bool = False

    def publish(
        self, topic: str, data: bytes, *, attributes: Mapping[str, str], ordering_key: str = ""
    ) -> Future[str]:
        if self.refuse:
            raise ValueError("message too large")
        future: Future[str] = Future()
        self.futures[data] = future
        return future

    def resume(self, topic: str, ordering_key: str) -> None:
        self.resumed.append(ordering_key)


def _window(publisher: Publisher) -> PublishWindow:
    return PublishWindow(publisher, TOPIC)  # type: ignore[arg-type]


def _send(window: PublishWindow, entry_id: str, key: str, *, dead: bool = False) -> None:
    window.publish(
        entry_id, TOPIC, entry_id.encode(), attributes={}, ordering_key=key, dead_letter=dead
    )


def test_a_confirmed_entry_waits_for_an_earlier_pending_one_of_its_key() -> None:
    pub = Publisher()
    window = _window(pub)
    for entry_id, key in (("1-0", "a"), ("2-0", "a"), ("3-0", "b")):
        _send(window, entry_id, key)
    pub.futures[b"2-0"].set_result("m2")
    pub.futures[b"3-0"].set_result("m3")
    first = window.harvest()
    assert first.confirmed == ["3-0"] and not first.failed and not first.reread
    assert "2-0" in window and len(window.unsettled()) == 1
    pub.futures[b"1-0"].set_result("m1")
    assert window.harvest().confirmed == ["1-0", "2-0"]
    assert len(window) == 0


def test_a_failure_pauses_its_key_until_its_publishes_settle_then_resumes_it() -> None:
    pub = Publisher()
    window = _window(pub)
    _send(window, "1-0", "a")
    _send(window, "2-0", "a")
    _send(window, "3-0", "a")
    pub.futures[b"1-0"].set_exception(RuntimeError("INVALID_ARGUMENT"))
    pub.futures[b"2-0"].set_result("m2")  # published after the failure: must go again
    settled = window.harvest()
    assert settled.failures == 1 and settled.failed and settled.reread
    assert settled.confirmed == [] and window.paused("a") and pub.resumed == []
    pub.futures[b"3-0"].set_exception(RuntimeError("key paused"))
    settled = window.harvest()
    assert settled.failures == 1 and settled.confirmed == []
    assert pub.resumed == ["a"] and not window.paused("a") and len(window) == 0


def test_dead_letters_are_unordered_and_never_pause_a_key() -> None:
    pub = Publisher()
    window = _window(pub)
    _send(window, "1-0", "", dead=True)
    _send(window, "2-0", "", dead=True)
    _send(window, "3-0", "a")
    pub.futures[b"1-0"].set_exception(RuntimeError("dead-letter topic missing"))
    pub.futures[b"2-0"].set_result("m2")
    pub.futures[b"3-0"].set_result("m3")
    settled = window.harvest()
    assert settled.dead == ["2-0"] and settled.confirmed == ["3-0"] and settled.failures == 1
    assert not window.paused("") and pub.resumed == []


def test_a_publisher_that_refuses_at_once_fails_the_entry_like_a_future() -> None:
    pub = Publisher(refuse=True)
    window = _window(pub)
    _send(window, "1-0", "a")
    assert window.unsettled() == []
    settled = window.harvest()
    assert settled.failures == 1 and pub.resumed == ["a"]  # nothing pending: resumed at once


def test_clear_forgets_everything() -> None:
    pub = Publisher()
    window = _window(pub)
    _send(window, "1-0", "a")
    pub.futures[b"1-0"].set_exception(RuntimeError("x"))
    _send(window, "2-0", "a")
    window.harvest()
    assert window.paused("a")
    window.clear()
    assert len(window) == 0 and not window.paused("a")
