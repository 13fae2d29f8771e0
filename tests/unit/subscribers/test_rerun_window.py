"""The inbox's rerun window: replayed events run again once, others dedupe as always."""

from __future__ import annotations

import redis

from vbq.subscribers.inbox import ClaimStatus, Inbox, rerun_key


def test_done_events_rerun_once_inside_the_window(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    inbox = Inbox(redis=client, group="g", ttl_s=60)
    for event_id in ("a", "b"):
        token = inbox.new_token()
        assert inbox.claim(event_id, token, published_s=100.0) is ClaimStatus.CLAIMED
        inbox.complete(event_id, published_s=100.0)
    assert inbox.claim("a", inbox.new_token(), published_s=100.0) is ClaimStatus.DONE

    window = inbox.set_rerun(since_s=50.0, until_s=150.0)
    token = inbox.new_token()
    assert inbox.claim("a", token, published_s=100.0) is ClaimStatus.CLAIMED
    assert inbox.claim("a", inbox.new_token(), published_s=100.0) is ClaimStatus.BUSY
    inbox.complete("a", published_s=100.0)
    assert client.get(inbox.key("a")) == f"done:{window.id}".encode()
    # Once per window: a second redelivery of the replay does not run it again.
    assert inbox.claim("a", inbox.new_token(), published_s=100.0) is ClaimStatus.DONE
    # Outside the window (a re-publish after the replay): the done mark holds.
    assert inbox.claim("b", inbox.new_token(), published_s=200.0) is ClaimStatus.DONE
    assert inbox.is_done("a") and inbox.is_done("b")


def test_window_is_a_hash_with_a_ttl(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    inbox = Inbox(redis=client, group="g2", ttl_s=60)
    window = inbox.set_rerun(since_s=1.0, until_s=2.0)
    assert client.hget(rerun_key("g2"), "id") == window.id.encode()
    assert 0 < client.ttl(rerun_key("g2")) <= 60
    assert window.covers(1.5) and not window.covers(2.0) and not window.covers(None)
